// `mode` and `group` of an app's own unix: listen socket, tried by real second uids in and out of the
// group: a member connects and wakes the app, an outsider gets EACCES from the kernel and wakes nothing;
// without them the socket stays 0600; a reload changes the held socket's file in place.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { validateConfig } from '../../src/config/schema.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { localGroup, localUser, type LocalUser } from '../helpers/local-user.js';
import { echoApp, EventLog, listenLine } from '../helpers/socket-mode.js';

const exec = promisify(execFile);

/** A directory of root's that other uids may pass through but not list or change (as /srv/run would be). */
function passableDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-access-'));
  chmodSync(dir, 0o711);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Runs as the other uid: its own connect, so the kernel's permission check is the one under test.
const CLIENT = `
const s = require('net').connect(process.argv[1], () => s.write('ping\\n'));
s.once('data', (d) => { process.stdout.write(JSON.stringify({ echoed: String(d) })); process.exit(0); });
s.once('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code })); process.exit(0); });
`;

/** Connects to `path` as `user` (with the groups the group database gives it) and sends a line. */
async function echoAs(user: LocalUser, path: string): Promise<{ echoed?: string; error?: string }> {
  const args = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', process.execPath, '-e', CLIENT, path];
  const { stdout } = await exec('setpriv', args, { cwd: '/', env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 });
  return JSON.parse(stdout) as { echoed?: string; error?: string };
}

function modeOf(path: string): number {
  return lstatSync(path).mode & 0o777;
}

async function start(t: Test, entry: unknown, events = new EventLog()): Promise<{ gw: TestGateway; events: EventLog }> {
  const gw = await startGateway(t, { db: echoApp('process', { listen: [entry], idleTimeout: '60s' }) }, {}, { recorder: events });
  return { gw, events };
}

function reloadTo(gw: TestGateway, entry: unknown) {
  const doc = { listen: { http: '127.0.0.1:0' }, runtimeDir: gw.config.runtimeDir, shutdownTimeout: '2s', apps: { db: echoApp('process', { listen: [entry], idleTimeout: '60s' }) } };
  return gw.gateway.reload(validateConfig(doc, gw.config.file));
}

t.test('by default the socket file is 0600: a member of any group gets EACCES and wakes nothing', async (t) => {
  const group = await localGroup(t);
  const other = await localUser(t, [group.name]);
  const path = join(passableDir(t), 'db.sock');
  const { gw, events } = await start(t, `unix:${path}`);
  t.equal(modeOf(path), 0o600);
  t.equal(lstatSync(path).uid, 0);
  t.same(await echoAs(other, path), { error: 'EACCES' });
  t.equal(events.starts('db'), 0, 'the refused client started nothing');
  t.equal(gw.gateway.apps.get('db')?.state, 'stopped');
});

t.test('with mode 0660 and a group, a member connects and wakes the app; an outsider gets EACCES and wakes nothing', async (t) => {
  const group = await localGroup(t);
  const member = await localUser(t, [group.name]);
  const outsider = await localUser(t);
  const path = join(passableDir(t), 'db.sock');
  const { gw, events } = await start(t, { address: `unix:${path}`, name: 'pg', mode: '0660', group: group.name });
  t.equal(modeOf(path), 0o660, 'the file has the mode');
  t.equal(lstatSync(path).gid, group.gid, 'and the group');
  t.equal(lstatSync(path).uid, 0, 'and stays the gateway’s');

  t.same(await echoAs(outsider, path), { error: 'EACCES' }, 'the outsider is refused by the kernel');
  t.equal(events.starts('db'), 0, 'the outsider started nothing');
  t.equal(gw.gateway.apps.get('db')?.state, 'stopped');

  t.same(await echoAs(member, path), { echoed: 'ping\n' }, 'the member is answered by the app it woke');
  t.equal(events.starts('db'), 1, 'one start');
  t.same(await listenLine(gw, 'db'), { fds: '1', pid: 'self', names: 'pg' });
});

t.test('reload: a changed mode or group applies to the held socket in place; the instance and the socket are kept', async (t) => {
  const [first, second] = [await localGroup(t), await localGroup(t)];
  const member = await localUser(t, [first.name]);
  const other = await localUser(t, [second.name]);
  const path = join(passableDir(t), 'db.sock');
  const { gw, events } = await start(t, `unix:${path}`);
  const inode = lstatSync(path).ino;
  t.same(await echoAs(member, path), { error: 'EACCES' }, '0600 at first');

  const shared = await reloadTo(gw, { address: `unix:${path}`, mode: '0660', group: first.name });
  t.same(shared && { changed: shared.changed, refused: shared.refused }, { changed: ['db'], refused: [] });
  t.equal(lstatSync(path).ino, inode, 'the same socket file');
  t.equal(modeOf(path), 0o660);
  t.equal(lstatSync(path).gid, first.gid);
  t.same(await echoAs(member, path), { echoed: 'ping\n' }, 'the member of the new group connects and wakes the app');
  const pid = gw.gateway.apps.get('db')!.instance!.pid;

  const moved = await reloadTo(gw, { address: `unix:${path}`, mode: '0660', group: second.gid });
  t.same(moved && moved.refused, []);
  t.equal(lstatSync(path).gid, second.gid, 'the group changed in place');
  t.same(await echoAs(member, path), { error: 'EACCES' }, 'the former group is out at once');
  t.same(await echoAs(other, path), { echoed: 'ping\n' }, 'the new group is in, served by the running instance');
  t.equal(gw.gateway.apps.get('db')!.instance?.pid, pid, 'the same instance throughout');

  await reloadTo(gw, `unix:${path}`);
  t.equal(modeOf(path), 0o600, 'back to the default');
  t.same(await echoAs(other, path), { error: 'EACCES' });
  t.equal(lstatSync(path).ino, inode, 'still the same socket file');
  t.equal(events.starts('db'), 1, 'one start for all of it');
});
