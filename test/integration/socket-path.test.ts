import t, { type Test } from 'tap';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/schema.js';
import { SocketPathTakenError } from '../../src/errors.js';
import { Gateway } from '../../src/gateway.js';
import { listenOn } from '../../src/listen.js';
import { closeFd, unixListen } from '../../src/native/index.js';
import { captureLogger, CountingRuntime, fixtureApp, get } from '../helpers/gateway.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-sockpath-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A socket file nobody listens on: what a gateway killed outright leaves (the native close does not unlink). */
function staleSocket(path: string): void {
  closeFd(unixListen(path, 1));
}

async function serveOn(t: Test, path: string): Promise<Server | Error> {
  const server = createHttpServer((_req, res) => res.end('fresh'));
  try {
    await listenOn(server, { kind: 'unix', path }, () => {});
    t.teardown(() => new Promise<void>((done) => server.close(() => done())));
    return server;
  } catch (err) {
    return err as Error;
  }
}

function getUnix(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ socketPath: path, path: '/' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

t.test('listen unix: refuses a regular file, a directory and a symlink, and leaves them intact', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'data.txt');
  writeFileSync(file, 'precious');
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  const link = join(dir, 'link');
  symlinkSync(file, link);
  for (const [path, found] of [
    [file, 'regular file'],
    [sub, 'directory'],
    [link, 'symbolic link'],
  ] as const) {
    const result = await serveOn(t, path);
    t.type(result, SocketPathTakenError, path);
    t.match(result, { code: 'WG_ERR_SOCKET_PATH_TAKEN', path, found });
    t.match((result as Error).message, `${path}: it is a ${found}, not a stale socket`);
  }
  t.equal(readFileSync(file, 'utf8'), 'precious', 'the file is intact');
  t.ok(lstatSync(sub).isDirectory(), 'the directory is intact');
  t.ok(lstatSync(link).isSymbolicLink(), 'the link is intact');
});

t.test('listen unix: a stale socket is replaced; a live one is refused and keeps serving', async (t) => {
  const dir = tempDir(t);
  const stale = join(dir, 'stale.sock');
  staleSocket(stale);
  const server = await serveOn(t, stale);
  if (server instanceof Error) throw server;
  t.equal(await getUnix(stale), 'fresh');

  const live = join(dir, 'live.sock');
  const other = createHttpServer((_req, res) => res.end('other'));
  await new Promise<void>((done) => other.listen(live, done));
  t.teardown(() => new Promise<void>((done) => other.close(() => done())));
  const refused = await serveOn(t, live);
  t.match(refused, { code: 'WG_ERR_SOCKET_PATH_TAKEN', path: live, found: 'socket in use' });
  t.equal(await getUnix(live), 'other', 'the other process still serves on its socket');
});

t.test('app sockets: a regular file at apps/<app>.sock is refused and kept; a stale socket is replaced', async (t) => {
  const runtimeDir = join(tempDir(t), 'run');
  mkdirSync(join(runtimeDir, 'apps'), { recursive: true, mode: 0o700 });
  chmodSync(runtimeDir, 0o700);
  const file = join(runtimeDir, 'apps/hello.sock');
  writeFileSync(file, 'not a socket');
  staleSocket(join(runtimeDir, 'apps/other.sock'));
  const config = validateConfig(
    { listen: { http: '127.0.0.1:0' }, runtimeDir, apps: { hello: fixtureApp(['hello.localhost']), other: fixtureApp(['other.localhost']) } },
    join(runtimeDir, 'test.yaml'),
  );
  const start = (): Promise<Gateway | Error> =>
    Gateway.start(config, { log: captureLogger().log, runtimeFor: () => new CountingRuntime() }).then(
      (gateway) => (t.teardown(() => gateway.shutdown()), gateway),
      (err: Error) => err,
    );
  const refused = await start();
  t.match(refused, { code: 'WG_ERR_SOCKET_PATH_TAKEN', path: file, found: 'regular file' });
  t.equal(readFileSync(file, 'utf8'), 'not a socket', 'the file is intact');

  rmSync(file);
  const gateway = await start();
  if (gateway instanceof Error) throw gateway;
  const port = gateway.address.kind === 'tcp' ? gateway.address.port : 0;
  t.equal((await get(port, 'other.localhost')).status, 200, 'served through the socket that replaced the stale one');
  t.equal((await get(port, 'hello.localhost')).status, 200);
});
