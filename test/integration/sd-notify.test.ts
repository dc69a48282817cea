// Type=notify and the fd store against a real datagram receiver (test/fixtures/sd-manager.py, python3's
// recvmsg), and a restart handed over through that store: what systemd does, by the same code path.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { fixtureApp, get } from '../helpers/gateway.js';
import { CLI, runGateway } from '../helpers/cli.js';
import { sdManager, type Notification } from '../helpers/sd-manager.js';
import { echoApp, socketDir } from '../helpers/socket-mode.js';
import { addressHash } from '../../src/systemd/fd-names.js';

const is = (key: string, value?: string) => (n: Notification) => (value === undefined ? key in n.fields : n.fields[key] === value);

/** A request over a connection opened now, answered whenever a gateway accepts it. */
function rawGet(target: { port: number } | { path: string }, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.path);
    socket.on('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

t.test('READY, STATUS, WATCHDOG, FDSTORE; RELOADING then READY on SIGHUP; FDSTOREREMOVE for a removed app; STOPPING', async (t) => {
  const m = await sdManager(t);
  const apps = { one: fixtureApp(['one.localhost']), two: fixtureApp(['two.localhost']), db: echoApp('process', { listen: ['tcp:127.0.0.1:0'] }) };
  const gw = await runGateway(t, { apps }, undefined, { env: { NOTIFY_SOCKET: m.socket, WATCHDOG_USEC: '200000' } });
  const ready = await m.waitFor(is('READY', '1'));
  const readyAt = m.received.indexOf(ready);
  const stored = m.received.slice(0, readyAt).filter(is('FDSTORE', '1'));
  const dbName = `app.db.${addressHash('tcp:127.0.0.1:0')}`;
  t.same(stored.map((n) => n.fields.FDNAME).sort(), ['app.one.http', 'app.two.http', dbName, 'http'].sort(), 'every socket it bound is stored before READY=1');
  t.ok(stored.every((n) => n.fds.length === 1), 'each with its fd');
  t.ok(m.received.every((n) => n.pid === gw.pid), 'every message from the main pid (NotifyAccess=main)');
  await m.waitFor(is('STATUS', '3 apps, 0 running, 0 starting'));
  const firstDog = await m.waitFor(is('WATCHDOG', '1'));
  await m.waitFor(is('WATCHDOG', '1'), m.received.indexOf(firstDog) + 1);
  t.pass('WATCHDOG=1 repeats while the loop runs');
  t.equal((await get(gw.port, 'one.localhost')).status, 200);
  await m.waitFor(is('STATUS', '3 apps, 1 running, 0 starting'));

  const before = m.received.length;
  gw.writeConfig({ apps: { one: apps.one, db: apps.db } });
  const sentAt = process.hrtime.bigint() / 1000n;
  gw.child.kill('SIGHUP');
  const reloading = await m.waitFor(is('RELOADING', '1'), before);
  const usec = BigInt(reloading.fields.MONOTONIC_USEC ?? '0');
  t.ok(usec >= sentAt && usec < sentAt + 60_000_000n, 'MONOTONIC_USEC is CLOCK_MONOTONIC, at the reload');
  await m.waitFor(is('READY', '1'), m.received.indexOf(reloading) + 1);
  const removed = await m.waitFor(is('FDSTOREREMOVE', '1'), before);
  t.equal(removed.fields.FDNAME, 'app.two.http', 'the removed app socket leaves the store');
  t.same((await m.store()).map(([name]) => name).sort(), ['app.one.http', dbName, 'http'].sort());
  await m.waitFor(is('STATUS', '2 apps, 1 running, 0 starting'));

  gw.child.kill('SIGTERM');
  await m.waitFor(is('STOPPING', '1'));
  t.same(await gw.exited, { code: 0, signal: null });
  t.ok(existsSync(join(gw.runtimeDir, 'apps', 'one.sock')), 'the stored app socket keeps its file for the next gateway');
  t.notOk(existsSync(join(gw.runtimeDir, 'apps', 'two.sock')), 'the removed one does not');
});

t.test('hand-over: gateway B adopts what A stored, and serves connections that waited while no gateway ran', async (t) => {
  const m = await sdManager(t);
  const apps = { one: fixtureApp(['one.localhost']), db: echoApp('process', { listen: ['tcp:127.0.0.1:0'] }) };
  const adminPath = join(socketDir(t), 'admin.sock');
  const a = await runGateway(t, { apps, admin: { listen: `unix:${adminPath}` } }, undefined, { env: { NOTIFY_SOCKET: m.socket } });
  await m.waitFor(is('READY', '1'));
  const dbPort = (a.lines.find((l) => l.msg === 'app socket listening' && l.app === 'db')!.bound as { port: number }).port;
  t.equal((await get(a.port, 'one.localhost')).status, 200, 'A serves');
  a.child.kill('SIGTERM');
  t.same(await a.exited, { code: 0, signal: null });

  t.ok(existsSync(adminPath), 'the admin socket file outlives A (bound by the gateway, not by Node, which would unlink it)');
  // No gateway runs now: these connect to the queues the store holds, and wait.
  const admin = rawGet({ path: adminPath }, 'localhost');
  const front = rawGet({ port: a.port }, 'one.localhost');
  const direct = rawGet({ path: join(a.runtimeDir, 'apps', 'one.sock') }, 'one.localhost');
  const store = await m.store();
  t.same(store.map(([name]) => name).sort(), ['admin', 'app.one.http', `app.db.${addressHash('tcp:127.0.0.1:0')}`, 'http'].sort());

  const pid = await m.spawn([process.execPath, CLI, 'run', '-c', a.configFile], { PATH: process.env.PATH ?? '', NOTIFY_SOCKET: m.socket, WAKEGATE_LOG_LEVEL: 'debug' });
  const adopting = await m.waitForLine((l) => l.msg === 'adopting 4 passed sockets');
  t.same((adopting.sockets as Array<{ name: string }>).map((s) => s.name), store.map(([name]) => name), 'B takes every stored socket back');
  t.match(await m.waitForLine((l) => l.msg === 'wakegate listening'), { address: { port: a.port } }, 'on the same front port');
  t.match(await m.waitForLine((l) => l.msg === 'app socket listening' && l.app === 'db'), { bound: { port: dbPort } }, 'and the same kernel-chosen app port');
  t.match(await front, /^HTTP\/1\.1 200 /, 'the connection that waited on the front is served by B');
  t.match(await direct, /^HTTP\/1\.1 200 /, 'and the one that waited on the app socket file');
  t.match(await admin, /^HTTP\/1\.1 404 /, 'and the one that waited on the admin socket (GET / is no admin route)');
  const readyB = await m.waitFor((n) => n.pid === pid && n.fields.READY === '1');
  t.ok(readyB, 'B is READY');
  t.notOk(m.received.some((n) => n.pid === pid && n.fields.FDSTORE === '1'), 'B stores nothing again: it bound nothing');
});

t.test('an app removed between two runs: its stored socket is released (FDSTOREREMOVE), not refused', async (t) => {
  const m = await sdManager(t);
  const a = await runGateway(t, { apps: { one: fixtureApp(['one.localhost']), two: fixtureApp(['two.localhost']) } }, undefined, { env: { NOTIFY_SOCKET: m.socket } });
  await m.waitFor(is('READY', '1'));
  a.child.kill('SIGTERM');
  await a.exited;
  a.writeConfig({ apps: { one: fixtureApp(['one.localhost']) } });
  const pid = await m.spawn([process.execPath, CLI, 'run', '-c', a.configFile], { PATH: process.env.PATH ?? '', NOTIFY_SOCKET: m.socket });
  t.match(await m.waitForLine((l) => l.msg.startsWith('released stored socket')), { name: 'app.two.http' });
  t.match(await m.waitFor((n) => n.pid === pid && n.fields.FDSTOREREMOVE === '1'), { fields: { FDNAME: 'app.two.http' } });
  await m.waitFor((n) => n.pid === pid && n.fields.READY === '1');
  t.same((await m.store()).map(([name]) => name).sort(), ['app.one.http', 'http']);
  t.notOk(existsSync(join(a.runtimeDir, 'apps', 'two.sock')), 'its stale file is gone too');
});
