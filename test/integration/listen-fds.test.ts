// Adoption of passed sockets without booting systemd: systemd-socket-activate binds, waits for the first
// connection and execs the gateway with LISTEN_FDS, as a socket unit does.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fixtureApp, get } from '../helpers/gateway.js';
import { configDoc, runGateway } from '../helpers/cli.js';
import { activate, activated } from '../helpers/socket-activate.js';
import { echoApp } from '../helpers/socket-mode.js';

/** A port that was free a moment ago (systemd-socket-activate needs a number). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function configFile(t: Test, doc: Record<string, unknown>): { file: string; runtimeDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wg-listenfds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const runtimeDir = join(dir, 'run');
  const file = join(dir, 'wakegate.json');
  writeFileSync(file, JSON.stringify(configDoc(runtimeDir, doc)));
  return { file, runtimeDir };
}

/** Sends a request on a connection made before the gateway runs: it waits in the passed socket's queue. */
function rawGet(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

t.test('systemd-socket-activate --fdname=http: the first connection starts the gateway, which serves on the passed socket', async (t) => {
  const port = await freePort();
  const { file } = configFile(t, { listen: { http: `127.0.0.1:${port}` }, apps: { one: fixtureApp(['one.localhost']) } });
  const gw = await activated(t, file, activate([`127.0.0.1:${port}`], ['http']), 1);
  const answer = await rawGet(port, 'one.localhost');
  t.match(answer, /^HTTP\/1\.1 200 /, 'the connection that started it is answered');
  const adopted = await gw.waitFor((l) => l.msg === 'adopting 1 passed sockets');
  t.same(adopted.sockets, [{ fd: 3, name: 'http' }]);
  t.match(await gw.waitFor((l) => l.msg === 'wakegate listening'), { address: { port } });
  t.equal((await get(port, 'one.localhost')).status, 200, 'and the next one');
});

t.test('several passed sockets: front, admin and an app socket by name, one more by address alone', async (t) => {
  const [front, admin, db, cache] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const { file } = configFile(t, {
    listen: { http: '127.0.0.1:0' },
    admin: { listen: `127.0.0.1:${admin}` },
    apps: {
      one: fixtureApp(['one.localhost']),
      db: echoApp('process', { listen: [`tcp:127.0.0.1:${db}`] }),
      cache: echoApp('process', { listen: [`tcp:127.0.0.1:${cache}`] }),
    },
  });
  const listen = [`127.0.0.1:${front}`, `127.0.0.1:${admin}`, `127.0.0.1:${db}`, `127.0.0.1:${cache}`];
  const gw = await activated(t, file, activate(listen, ['http', 'admin', 'app.db', 'unknown']), 4);
  t.match(await rawGet(front, 'one.localhost'), /^HTTP\/1\.1 200 /);
  t.match(await gw.waitFor((l) => l.msg === 'wakegate listening'), { address: { port: front } }, 'port 0 in the config takes the passed port');
  t.match(await gw.waitFor((l) => l.msg === 'admin listening'), { address: { port: admin } });
  t.equal((await get(admin, undefined, '/healthz')).status, 200, 'the admin serves on its passed socket');
  for (const port of [db, cache]) {
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('ping'));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    t.equal(echoed, 'ping', `the app on ${port} is woken through its passed socket and echoes (a bind of its own would have failed: the address is held)`);
  }
});

/** Runs the CLI under systemd-socket-activate and returns its exit code and stderr, after one connection. */
async function refused(t: Test, doc: Record<string, unknown>, wrap: string[], port: number, sockets = 1, datagram = false): Promise<{ code: number | null; stderr: string }> {
  const { file } = configFile(t, doc);
  const gw = await activated(t, file, wrap, sockets);
  // Wakes the activator; its outcome does not matter.
  if (datagram) {
    const { createSocket } = await import('node:dgram');
    const udp = createSocket('udp4');
    await new Promise((resolve) => udp.send('x', port, '127.0.0.1', resolve));
    udp.close();
  }
  const poke = datagram ? undefined : connect(port, '127.0.0.1');
  poke?.on('error', () => {});
  const code = await gw.exited;
  poke?.destroy();
  return { code, stderr: gw.stderr() };
}

t.test('a passed socket named http on another address than listen.http is a typed start-up error', async (t) => {
  const [passed, configured] = [await freePort(), await freePort()];
  const { code, stderr } = await refused(t, { listen: { http: `127.0.0.1:${configured}` }, apps: {} }, activate([`127.0.0.1:${passed}`], ['http']), passed);
  t.equal(code, 1);
  t.match(stderr, `the socket passed as fd 3 (name http) is bound to tcp:127.0.0.1:${passed}, but the config has tcp:127.0.0.1:${configured} for it (WG_ERR_INHERITED_SOCKET_MISMATCH)`);
});

t.test('a passed socket matching no configured address, and one that is no stream socket, are refused', async (t) => {
  const [stray, front] = [await freePort(), await freePort()];
  const unmatched = await refused(t, { listen: { http: `127.0.0.1:${front}` }, apps: {} }, activate([`127.0.0.1:${front}`, `127.0.0.1:${stray}`], ['http', 'unknown']), front, 2);
  t.equal(unmatched.code, 1);
  t.match(unmatched.stderr, `the socket passed as fd 4 (name unknown, bound to tcp:127.0.0.1:${stray}) matches no configured address (WG_ERR_INHERITED_SOCKET_MISMATCH)`);
  const datagram = await freePort();
  const notStream = await refused(t, { listen: { http: `127.0.0.1:${datagram}` }, apps: {} }, activate([`127.0.0.1:${datagram}`], ['http'], ['--datagram']), datagram, 1, true);
  t.equal(notStream.code, 1);
  t.match(notStream.stderr, /cannot use the socket passed as fd 3 \(name http\): it is not a stream socket .*\(WG_ERR_INHERITED_SOCKET\)/);
});

t.test('outside systemd nothing changes: LISTEN_* meant for another pid are ignored, nothing is notified, and sockets are removed at shutdown', async (t) => {
  const gw = await runGateway(t, { apps: { one: fixtureApp(['one.localhost']) } }, undefined, { env: { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' } });
  t.equal((await get(gw.port, 'one.localhost')).status, 200, 'it binds its own front and serves');
  t.notOk(gw.lines.some((l) => /adopting|notify/.test(l.msg)), 'no adoption, no notification attempt');
  const socket = join(gw.runtimeDir, 'apps', 'one.sock');
  t.ok(existsSync(socket), 'the app socket is there while it runs');
  gw.child.kill('SIGTERM');
  t.same(await gw.exited, { code: 0, signal: null });
  t.notOk(existsSync(socket), 'and removed at shutdown, as always');
});
