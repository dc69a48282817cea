// An app's own listening sockets: held by the gateway, watched without accepting, handed to a real child
// that accepts the queued connections itself; and the bad addresses an operator can write.
import { spawn as nodeSpawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { ListenAddress } from '../../src/config/types.js';
import type { AppSocketError } from '../../src/errors.js';
import { closeFd, spawn, unixListen } from '../../src/native/index.js';
import { ListenSocket } from '../../src/socket/listen-socket.js';
import { ReadableWatch } from '../../src/socket/readable-watch.js';

type Test = Pick<typeof t, 'teardown'>;

const NOBODY = 65534;
const moduleFile = fileURLToPath(new URL('../../src/socket/listen-socket.js', import.meta.url));
let root = path.dirname(fileURLToPath(import.meta.url));
while (!existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
const echo = path.join(root, 'test', 'fixtures', 'fd-echo.mjs');

/** A private temp dir (0700, ours); `mode` widens it for tests where another uid must traverse it. */
function tempDir(t: Test, mode = 0o700): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-sock-'));
  chmodSync(dir, mode);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function held(t: Test, app: string, address: ListenAddress, name?: string): Promise<ListenSocket> {
  const sock = await ListenSocket.open(app, address, { name });
  t.teardown(() => sock.close());
  return sock;
}

function client(t: Test, sock: ListenSocket): net.Socket {
  const b = sock.bound;
  const c = b.kind === 'unix' ? net.connect(b.path) : net.connect(b.port, b.host);
  t.teardown(() => c.destroy());
  return c;
}

/** Sends `line` and resolves with the first answer. */
function ask(c: net.Socket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    c.once('data', (d: Buffer) => resolve(d.toString()));
    c.once('error', reject);
    c.write(line);
  });
}

/** Runs `script` (an ES module) with node as uid/gid 65534; resolves with its stdout. */
function asNobody(t: Test, script: string, arg: string): Promise<string> {
  // Through env -u: the test runner adds NODE_OPTIONS hooks to every child's env, and they would try to
  // write where nobody may not.
  const child = nodeSpawn('env', ['-u', 'NODE_OPTIONS', 'setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script, arg], {
    cwd: '/',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve(out));
  });
}

const cases: Array<[string, (t: Test) => ListenAddress]> = [
  ['tcp v4 loopback', () => ({ kind: 'tcp', host: '127.0.0.1', port: 0 })],
  ['tcp v6 loopback', () => ({ kind: 'tcp', host: '::1', port: 0 })],
  ['unix', (t) => ({ kind: 'unix', path: path.join(tempDir(t), 'db.sock') })],
];

for (const [label, address] of cases) {
  t.test(`${label}: the queued connections wake the watch once, and a spawned child accepts them itself`, async (t) => {
    const sock = await held(t, 'echo', address(t), 'pg');
    const b = sock.bound;
    if (b.kind === 'tcp') t.ok(b.port > 0, 'port 0 became the real port');
    else t.equal(lstatSync(b.path).mode & 0o777, 0o600, 'the socket file is 0600');

    const watch = new ReadableWatch([sock.fd]);
    t.teardown(() => watch.disarm());
    let wakes = 0;
    const woke = new Promise<void>((resolve) => watch.arm(() => (wakes++, resolve()), (err) => t.fail(err.message)));
    const clients = Array.from({ length: 3 }, () => client(t, sock));
    const answers = clients.map((c, i) => ask(c, `hello ${i}\n`));
    await woke;

    const child = spawn(process.execPath, [process.execPath, echo], { PATH: process.env.PATH ?? '/usr/bin:/bin' }, [sock.fd], { listenFdNames: [sock.name] });
    t.teardown(async () => {
      child.kill('SIGKILL');
      await child.exited;
    });
    t.same(await Promise.all(answers), ['pg:hello 0\n', 'pg:hello 1\n', 'pg:hello 2\n'], 'the child accepted the queued connections and data flows');
    t.equal(wakes, 1, 'three pending connections, one wake-up');
    t.equal(await ask(client(t, sock), 'later\n'), 'pg:later\n', 'and it keeps accepting');
  });
}

t.test('close() releases the fd and removes only the socket file it made', async (t) => {
  const dir = tempDir(t);
  const before = readdirSync('/proc/self/fd').length;
  const sock = await ListenSocket.open('a', { kind: 'unix', path: path.join(dir, 'a.sock') });
  sock.close();
  sock.close();
  t.equal(sock.fd, -1);
  t.notOk(existsSync(path.join(dir, 'a.sock')), 'socket file removed');
  t.equal(readdirSync('/proc/self/fd').length, before, 'fd closed');

  const other = await ListenSocket.open('b', { kind: 'unix', path: path.join(dir, 'b.sock') });
  rmSync(path.join(dir, 'b.sock'));
  writeFileSync(path.join(dir, 'b.sock'), 'someone else');
  other.close();
  t.equal(readFileSync(path.join(dir, 'b.sock'), 'utf8'), 'someone else', 'a file put there since is left alone');
});

t.test('a stale socket file is replaced; a regular file is refused and kept', async (t) => {
  const dir = tempDir(t);
  const stale = path.join(dir, 'stale.sock');
  closeFd(unixListen(stale, 1)); // bound, then its holder "died": the file stays, nobody listens
  const sock = await held(t, 'app', { kind: 'unix', path: stale });
  t.equal(sock.bound.kind, 'unix');

  const file = path.join(dir, 'file.sock');
  writeFileSync(file, 'data');
  await t.rejects(ListenSocket.open('app', { kind: 'unix', path: file }), { code: 'WG_ERR_APP_SOCKET', app: 'app', address: `unix:${file}`, problem: 'path-taken', message: /not a stale socket/ });
  t.equal(readFileSync(file, 'utf8'), 'data');
});

t.test('an address already in use is refused naming the app and the address', async (t) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const err = await ListenSocket.open('db', { kind: 'tcp', host: '127.0.0.1', port }).then(
    () => undefined,
    (e: AppSocketError) => e,
  );
  t.match(err, { code: 'WG_ERR_APP_SOCKET', app: 'db', address: `tcp:127.0.0.1:${port}`, problem: 'in-use', errno: 'EADDRINUSE' });
  t.equal(err?.message, `app db cannot listen on tcp:127.0.0.1:${port}: address already in use`);

  const dir = tempDir(t);
  const live = path.join(dir, 'live.sock');
  const unixServer = net.createServer();
  await new Promise<void>((resolve) => unixServer.listen(live, resolve));
  t.teardown(() => unixServer.close());
  await t.rejects(ListenSocket.open('db', { kind: 'unix', path: live }), { code: 'WG_ERR_APP_SOCKET', problem: 'in-use', message: /already in use/ });
  t.ok(lstatSync(live).isSocket(), 'the live socket is left alone');
});

t.test('an address not on this host, or not an address, is refused', async (t) => {
  await t.rejects(ListenSocket.open('x', { kind: 'tcp', host: '192.0.2.1', port: 0 }), { code: 'WG_ERR_APP_SOCKET', problem: 'not-available', errno: 'EADDRNOTAVAIL' });
  await t.rejects(ListenSocket.open('x', { kind: 'tcp', host: 'localhost', port: 0 }), { code: 'WG_ERR_APP_SOCKET', problem: 'invalid', errno: 'EINVAL' });
});

const PORT_SCRIPT = `
  import { ListenSocket } from ${JSON.stringify(moduleFile)};
  try {
    const s = await ListenSocket.open('web', { kind: 'tcp', host: '127.0.0.1', port: Number(process.argv[1]) });
    s.close();
    console.log(JSON.stringify({ ok: true }));
  } catch (e) {
    console.log(JSON.stringify({ code: e.code, problem: e.problem, message: e.message }));
  }
`;

t.test('a privileged port without CAP_NET_BIND_SERVICE gets a clear message', async (t) => {
  const free = await new Promise<number>((resolve) => {
    // A port below 1024 that nothing here uses, found as root with node:net.
    const tryPort = (p: number): void => {
      const s = net.createServer();
      s.once('error', () => tryPort(p + 1));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(p)));
    };
    tryPort(700);
  });
  const result = JSON.parse(await asNobody(t, PORT_SCRIPT, String(free))) as { code?: string; problem?: string; message?: string };
  t.same(result, {
    code: 'WG_ERR_APP_SOCKET',
    problem: 'privileged',
    message: `app web cannot listen on tcp:127.0.0.1:${free}: port ${free} needs CAP_NET_BIND_SERVICE (or run as root)`,
  });
  const asRoot = await ListenSocket.open('web', { kind: 'tcp', host: '127.0.0.1', port: free });
  asRoot.close();
  t.pass('the same port works with the capability (as root)');
});

t.test('a unix path in a directory the gateway does not own is refused', async (t) => {
  const theirs = tempDir(t);
  chownSync(theirs, NOBODY, NOBODY);
  await t.rejects(ListenSocket.open('db', { kind: 'unix', path: path.join(theirs, 'db.sock') }), {
    code: 'WG_ERR_APP_SOCKET',
    app: 'db',
    address: `unix:${path.join(theirs, 'db.sock')}`,
    problem: 'unsafe-dir',
    message: new RegExp(`the directory ${theirs} is owned by uid ${NOBODY}, not by the gateway's uid 0`),
  });
  t.same(readdirSync(theirs), [], 'nothing was created there');

  const shared = tempDir(t, 0o1777);
  await t.rejects(ListenSocket.open('db', { kind: 'unix', path: path.join(shared, 'db.sock') }), { problem: 'unsafe-dir', message: /is writable by group or others/ });
  await t.rejects(ListenSocket.open('db', { kind: 'unix', path: '/nonexistent-wg-dir/db.sock' }), { code: 'WG_ERR_APP_SOCKET', problem: 'unsafe-dir', errno: 'ENOENT' });
});

const CONNECT_SCRIPT = `
  import net from 'node:net';
  const c = net.connect(process.argv[1]);
  c.once('connect', () => { console.log('connected'); c.destroy(); });
  c.once('error', (e) => console.log(e.code));
`;

t.test('another uid cannot connect to a held unix socket (0600), though it can reach the directory', async (t) => {
  const dir = tempDir(t, 0o711);
  const sock = await held(t, 'db', { kind: 'unix', path: path.join(dir, 'db.sock') });
  t.equal((await asNobody(t, CONNECT_SCRIPT, path.join(dir, 'db.sock'))).trim(), 'EACCES');
  const watch = new ReadableWatch([sock.fd]);
  t.teardown(() => watch.disarm());
  let woke = false;
  watch.arm(() => (woke = true), (err) => t.fail(err.message));
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  t.notOk(woke, 'the refused attacker did not wake the app');
  chmodSync(path.join(dir, 'db.sock'), 0o666);
  t.equal((await asNobody(t, CONNECT_SCRIPT, path.join(dir, 'db.sock'))).trim(), 'connected', 'control: with the mode widened it connects');
});
