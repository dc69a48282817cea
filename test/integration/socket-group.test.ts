// socketGroup: the one setting that lets a front proxy of the operator's own (nginx, HAProxy, Caddy) connect
// to <runtimeDir>/apps/<app>.sock, tried by real second uids in and out of the group.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { captureLogger, CountingRuntime, fixtureApp, startGateway } from '../helpers/gateway.js';
import { CLI, followLog } from '../helpers/cli.js';
import { localGroup, localUser, type LocalUser } from '../helpers/local-user.js';

const HELLO = { hello: fixtureApp(['hello.localhost'], { idleTimeout: '30s' }) };

function modeOf(path: string): number {
  return lstatSync(path).mode & 0o7777;
}

/** A temp parent the other uids may pass through (as /run is), removed with the test. */
function parentDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-sockgroup-'));
  chmodSync(dir, 0o711);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A gateway on `runtimeDir` in this process, or the error its start threw. */
async function startOn(t: Test, runtimeDir: string, socketGroup: unknown): Promise<Gateway | Error> {
  const config = validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir, socketGroup, shutdownTimeout: '2s', apps: HELLO }, join(runtimeDir, '..', 'test.yaml'));
  try {
    const gateway = await Gateway.start(config, { log: captureLogger().log, runtimeFor: () => new CountingRuntime() });
    t.teardown(() => gateway.shutdown());
    return gateway;
  } catch (err) {
    return err as Error;
  }
}

t.test('without socketGroup the runtimeDir stays 0700 and the sockets 0600: no other uid connects', async (t) => {
  const group = await localGroup(t);
  const other = await localUser(t, [group.name]);
  const gw = await startGateway(t, HELLO);
  const runtimeDir = gw.config.runtimeDir;
  t.equal(gw.config.socketGroup, undefined, 'no default group');
  t.equal(modeOf(runtimeDir), 0o700);
  t.equal(modeOf(join(runtimeDir, 'apps')), 0o700);
  t.equal(modeOf(join(runtimeDir, 'apps/hello.sock')), 0o600);
  t.same(await other.request(join(runtimeDir, 'apps/hello.sock'), 'hello.localhost'), { error: 'EACCES' });
  t.equal(gw.runtime.starts, 0, 'the refused connection started nothing');
});

t.test('with socketGroup a member connects, wakes the app and is answered; a non-member gets EACCES and wakes nothing', async (t) => {
  const group = await localGroup(t);
  const member = await localUser(t, [group.name]);
  const outsider = await localUser(t);
  const gw = await startGateway(t, HELLO, { socketGroup: group.name });
  const runtimeDir = gw.config.runtimeDir;
  const socket = join(runtimeDir, 'apps/hello.sock');
  t.equal(gw.config.socketGroup, group.gid, 'the name is resolved at load');
  for (const [path, mode] of [[runtimeDir, 0o710], [join(runtimeDir, 'apps'), 0o710], [socket, 0o660]] as const) {
    t.equal(modeOf(path), mode, `${path} is 0${mode.toString(8)}`);
    t.equal(lstatSync(path).gid, group.gid, `${path} belongs to the group`);
    t.equal(lstatSync(path).uid, 0, `${path} stays the gateway's`);
  }
  t.equal(modeOf(join(runtimeDir, 'lock')), 0o600, 'the lock stays private');

  t.same(await outsider.request(socket, 'hello.localhost'), { error: 'EACCES' }, 'the outsider is refused by the kernel');
  t.equal(gw.runtime.starts, 0, 'the outsider started nothing');
  t.equal(gw.gateway.apps.get('hello')?.state, 'stopped');

  const reply = await member.request(socket, 'hello.localhost');
  t.match(reply, { status: 200 }, 'the member is answered by the app it woke');
  if ('body' in reply) t.equal((JSON.parse(reply.body) as { path: string }).path, '/');
  t.equal(gw.runtime.starts, 1, 'one start');
});

t.test('a runtimeDir found with socketGroup and 0750 is taken (and made 0710); a writable, foreign or linked one is refused', async (t) => {
  const group = await localGroup(t);
  const stranger = await localUser(t, [group.name]);
  const parent = parentDir(t);

  const found = join(parent, 'found');
  mkdirSync(join(found, 'apps'), { recursive: true });
  for (const dir of [found, join(found, 'apps')]) {
    chownSync(dir, 0, group.gid);
    chmodSync(dir, 0o750);
  }
  const gateway = await startOn(t, found, group.gid);
  if (gateway instanceof Error) throw gateway;
  t.equal(modeOf(found), 0o710, 'group read dropped: the group may not list the apps');
  t.equal(modeOf(join(found, 'apps')), 0o710);

  const writable = join(parent, 'writable');
  mkdirSync(writable);
  chownSync(writable, 0, group.gid);
  chmodSync(writable, 0o770);
  t.match(await startOn(t, writable, group.name), { code: 'WG_ERR_RUNTIME_DIR_UNSAFE', path: writable, problem: 'writable', mode: 0o770 });
  t.equal(modeOf(writable), 0o770, 'a refused directory is left as it was');

  const appsWritable = join(parent, 'apps-writable');
  mkdirSync(join(appsWritable, 'apps'), { recursive: true, mode: 0o700 });
  chownSync(join(appsWritable, 'apps'), 0, group.gid);
  chmodSync(join(appsWritable, 'apps'), 0o730);
  t.match(await startOn(t, appsWritable, group.name), { code: 'WG_ERR_RUNTIME_DIR_UNSAFE', path: join(appsWritable, 'apps'), problem: 'writable' });

  const foreign = join(parent, 'foreign');
  mkdirSync(foreign);
  chownSync(foreign, stranger.uid, group.gid);
  chmodSync(foreign, 0o710);
  t.match(await startOn(t, foreign, group.name), { code: 'WG_ERR_RUNTIME_DIR_UNSAFE', path: foreign, problem: 'owner', ownerUid: stranger.uid });
  t.equal(statSync(foreign).gid, group.gid);

  const real = join(parent, 'real');
  mkdirSync(real, { mode: 0o700 });
  const link = join(parent, 'link');
  symlinkSync(real, link);
  t.match(await startOn(t, link, group.name), { code: 'WG_ERR_RUNTIME_DIR_UNSAFE', path: link, problem: 'symlink' });
  t.equal(modeOf(real), 0o700, 'nothing was shared through the link');
});

t.test('restarted without socketGroup, the group loses its access', async (t) => {
  const group = await localGroup(t);
  const member = await localUser(t, [group.name]);
  const runtimeDir = join(parentDir(t), 'run');
  const socket = join(runtimeDir, 'apps/hello.sock');
  const shared = await startOn(t, runtimeDir, group.name);
  if (shared instanceof Error) throw shared;
  t.match(await member.request(socket, 'hello.localhost'), { status: 200 }, 'a member while the group is set');
  await shared.shutdown();
  const alone = await startOn(t, runtimeDir, undefined);
  if (alone instanceof Error) throw alone;
  t.equal(modeOf(join(runtimeDir, 'apps')), 0o700, 'apps/ is private again');
  t.equal(modeOf(socket), 0o600);
  t.same(await member.request(socket, 'hello.localhost'), { error: 'EACCES' }, 'the former member is refused');
});

t.test('missing parents the gateway creates let the group through, and nothing more', async (t) => {
  const group = await localGroup(t);
  const member = await localUser(t, [group.name]);
  const parent = parentDir(t);
  const runtimeDir = join(parent, 'a/b/wakegate');
  const gateway = await startOn(t, runtimeDir, group.name);
  if (gateway instanceof Error) throw gateway;
  for (const dir of [join(parent, 'a'), join(parent, 'a/b')]) {
    t.equal(modeOf(dir), 0o710, `${dir} is 0710`);
    t.equal(statSync(dir).gid, group.gid);
  }
  t.match(await member.request(join(runtimeDir, 'apps/hello.sock'), 'hello.localhost'), { status: 200 }, 'the member gets through every directory');
});

/** `wakegate run` as `user`, on a runtimeDir in a directory of that user's own; resolves once it listened or exited. */
async function runAs(t: Test, user: LocalUser, socketGroup: string): Promise<{ runtimeDir: string; code: number | null | undefined; stderr: string }> {
  const home = join(parentDir(t), 'home');
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, user.uid, user.gid);
  const runtimeDir = join(home, 'run');
  const configFile = join(home, 'wakegate.json');
  writeFileSync(configFile, JSON.stringify({ listen: { http: '127.0.0.1:0' }, runtimeDir, socketGroup, apps: {} }));
  chownSync(configFile, user.uid, user.gid);
  // A plain environment: the test runner's NODE_OPTIONS would have the child write where this user may not.
  const args = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', process.execPath, CLI, 'run', '-c', configFile];
  const child = spawn('setpriv', args, { cwd: '/', env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const { waitFor } = followLog(child);
  const listening = await Promise.race([waitFor((l) => l.msg === 'wakegate listening').then(() => true), exited.then(() => false)]);
  return { runtimeDir, code: listening ? undefined : (await exited)[0], stderr };
}

t.test('a gateway not run as root shares with a group it is in, and refuses one it is not in, naming it', async (t) => {
  const group = await localGroup(t);
  const member = await localUser(t, [group.name]);
  const outsider = await localUser(t);

  const shared = await runAs(t, member, group.name);
  t.equal(shared.code, undefined, 'the member’s gateway listens');
  t.equal(modeOf(shared.runtimeDir), 0o710);
  t.equal(lstatSync(join(shared.runtimeDir, 'apps')).gid, group.gid);

  const refused = await runAs(t, outsider, group.name);
  t.equal(refused.code, 1, 'the outsider’s gateway exits 1');
  t.match(refused.stderr, new RegExp(`fchown failed: EPERM.*socketGroup gid ${group.gid}: the gateway must run as root or as a member of that group\\) \\(WG_ERR_SYSCALL\\)`));
  t.equal(statSync(refused.runtimeDir).gid, outsider.gid, 'its directory keeps the outsider’s group');
});

t.test('socketGroup is a group name or a gid; an unknown name fails at load', async (t) => {
  const file = join(tmpdir(), 'wg-socket-group.yaml');
  const doc = (socketGroup: unknown): unknown => ({ listen: { http: '127.0.0.1:0' }, socketGroup, apps: {} });
  t.equal(validateConfig(doc(4242), file).socketGroup, 4242);
  t.equal(validateConfig(doc('4242'), file).socketGroup, 4242);
  t.equal(validateConfig(doc('nogroup'), file).socketGroup, 65534);
  t.throws(() => validateConfig(doc('no-such-group-wg'), file), { code: 'WG_ERR_CONFIG', message: /socketGroup: no group named "no-such-group-wg" in \/etc\/group/ });
  t.throws(() => validateConfig(doc(-1), file), { code: 'WG_ERR_CONFIG', message: /socketGroup/ });
  t.throws(() => validateConfig(doc(['a']), file), { code: 'WG_ERR_CONFIG', message: /socketGroup: expected a group name or gid/ });
});
