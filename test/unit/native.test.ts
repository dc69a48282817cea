// The native addon, checked from inside real children: each child reports what it inherited.
import { spawn as nodeSpawn } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SpawnError, SyscallError } from '../../src/errors.js';
import { type ChildHandle, type SpawnOptions, closeFd, pipe, spawn, unixListen } from '../../src/native/index.js';

type Test = Pick<typeof t, 'teardown'>;

const facade = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));
let root = path.dirname(fileURLToPath(import.meta.url));
while (!existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
const fixtures = path.join(root, 'test', 'fixtures');
const probe = path.join(fixtures, 'native-probe.mjs');

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-native-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function owned(t: Test, fd: number): number {
  t.teardown(() => closeFd(fd));
  return fd;
}

/** Spawns with stdout going to a temp file; `output` resolves with it once the child is reaped. */
function run(t: Test, file: string, argv: string[], env: Record<string, string> = {}, fds: number[] = [], opts: SpawnOptions = {}) {
  const out = path.join(tempDir(t), 'stdout');
  const stdin = openSync('/dev/null', 'r');
  const stdout = openSync(out, 'w');
  let child: ChildHandle;
  try {
    child = spawn(file, argv, env, fds, { stdio: [stdin, stdout, 2], ...opts });
  } finally {
    closeSync(stdin);
    closeSync(stdout);
  }
  t.teardown(async () => {
    child.kill('SIGKILL');
    await child.exited;
  });
  return { child, output: async () => ((await child.exited), readFileSync(out, 'utf8')) };
}

/** `ls -ln /proc/self/fd` output as {fd: target}, minus ls's own directory fd. */
function fdTable(listing: string, pid: number): Record<string, string> {
  const table: Record<string, string> = {};
  for (const line of listing.split('\n')) {
    const m = /\s(\d+) -> (.*)$/.exec(line);
    if (m && m[2] !== `/proc/${pid}/fd`) table[m[1]!] = m[2]!;
  }
  return table;
}

function statusField(status: string, key: string): string | undefined {
  return new RegExp(`^${key}:[ \\t]*(.*)$`, 'm').exec(status)?.[1];
}

t.test('fds land at 3.. and no other fd reaches the child', async (t) => {
  const [a] = pipe().map((n) => owned(t, n));
  const [b] = pipe().map((n) => owned(t, n));
  const { child, output } = run(t, '/usr/bin/ls', ['ls', '-ln', '/proc/self/fd'], {}, [a!, b!]);
  const table = fdTable(await output(), child.pid);
  t.same(Object.keys(table), ['0', '1', '2', '3', '4'], 'exactly 0-2 plus the two handed fds');
  t.equal(table['3'], readlinkSync(`/proc/self/fd/${a}`), 'fds[0] is fd 3');
  t.equal(table['4'], readlinkSync(`/proc/self/fd/${b}`), 'fds[1] is fd 4');
});

t.test('sources already at 3 and 4 swap without clobbering; inherited fds do not leak', async (t) => {
  const extra = [...Array<'ignore'>(35).fill('ignore'), 'pipe', 'pipe'] as const; // fds 5..41
  const proc = nodeSpawn(process.execPath, [path.join(fixtures, 'native-spawner.mjs'), 'swap', facade], {
    stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe', ...extra],
  });
  let json = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (json += s));
  const code = await new Promise((resolve) => proc.on('close', resolve));
  t.equal(code, 0, 'spawner ran');
  const r = JSON.parse(json);
  t.same(r.cloexec, { 40: false, 41: false }, 'the spawner holds 40 and 41 without close-on-exec');
  const swapped = fdTable(r.swapped.out, r.swapped.pid);
  t.same(Object.keys(swapped), ['0', '1', '2', '3', '4']);
  t.equal(swapped['3'], r.mine['4'], 'fds[0] = 4 landed at 3');
  t.equal(swapped['4'], r.mine['3'], 'fds[1] = 3 landed at 4');
  t.same(Object.keys(fdTable(r.none.out, r.none.pid)), ['0', '1', '2'], 'with no fds, 3, 4, 40 and 41 stay behind');
  t.same(r.swapped.exit, { code: 0, signal: null });
});

t.test('LISTEN_* env: LISTEN_PID is the child own pid', async (t) => {
  const [a, b] = pipe().map((n) => owned(t, n));
  const env = { FOO: 'bar', LISTEN_PID: '1', LISTEN_FDS: '9' };
  const { child, output } = run(t, process.execPath, ['node', probe, 'report'], env, [a!, b!], { listenFdNames: ['web', 'admin'] });
  const r = JSON.parse(await output());
  t.equal(r.pid, child.pid, 'the probe runs as the spawned pid');
  t.same(r.env, { FOO: 'bar', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin', LISTEN_PID: String(child.pid) }, 'env is exactly ours');
  t.equal(r.fds[3], readlinkSync(`/proc/self/fd/${a}`));
});

t.test('without listenFdNames the env is passed as given', async (t) => {
  const { output } = run(t, '/usr/bin/env', ['env'], { A: '1', LISTEN_PID: 'x' });
  t.equal(await output(), 'A=1\nLISTEN_PID=x\n');
});

t.test('signal dispositions and mask are reset', async (t) => {
  t.not(statusField(readFileSync('/proc/self/status', 'utf8'), 'SigIgn'), '0000000000000000', 'node ignores SIGPIPE here');
  const { output } = run(t, '/usr/bin/cat', ['cat', '/proc/self/status']);
  const status = await output();
  t.equal(statusField(status, 'SigIgn'), '0000000000000000');
  t.equal(statusField(status, 'SigBlk'), '0000000000000000');
});

t.test('setsid makes the child lead its own session', async (t) => {
  const own = run(t, '/usr/bin/cat', ['cat', '/proc/self/status'], {}, [], { setsid: true });
  t.equal(statusField(await own.output(), 'NSsid'), String(own.child.pid));
  const parentSid = statusField(readFileSync('/proc/self/status', 'utf8'), 'NSsid');
  const inherited = run(t, '/usr/bin/cat', ['cat', '/proc/self/status']);
  t.equal(statusField(await inherited.output(), 'NSsid'), parentSid, 'default: the parent session');
});

t.test('cwd', async (t) => {
  const dir = realpathSync(tempDir(t));
  const { output } = run(t, process.execPath, ['node', probe, 'report'], {}, [], { cwd: dir });
  t.equal(JSON.parse(await output()).cwd, dir);
  t.throws(() => spawn('/usr/bin/true', ['true'], {}, [], { cwd: path.join(dir, 'missing') }), new SyscallError('chdir', 'ENOENT', 2));
});

t.test('uid and gid', { skip: process.getuid?.() === 0 ? false : 'needs root: only root can spawn a child as another uid and gid' }, async (t) => {
  const ids = run(t, '/usr/bin/cat', ['cat', '/proc/self/status'], {}, [], { uid: 65534, gid: 65534 });
  const status = await ids.output();
  t.match(statusField(status, 'Uid'), /^65534\s+65534\s+65534\s+65534$/);
  t.match(statusField(status, 'Gid'), /^65534\s+65534\s+65534\s+65534$/);
  t.equal(statusField(status, 'Groups'), '', 'supplementary groups dropped');
});

t.test('exec failures are SpawnErrors', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'missing');
  t.throws(() => spawn(missing, ['x'], {}, []), new SpawnError(missing, 'ENOENT', 2));
  const plain = path.join(dir, 'plain');
  writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
  t.throws(() => spawn(plain, ['x'], {}, []), new SpawnError(plain, 'EACCES', 13));
});

t.test('exited reports code and signal; kill after exit is false', async (t) => {
  const seven = run(t, '/bin/sh', ['sh', '-c', 'exit 7']);
  t.same(await seven.child.exited, { code: 7, signal: null });
  t.equal(seven.child.kill('SIGTERM'), false, 'reaped: nothing to signal');
  const sleeper = run(t, '/usr/bin/sleep', ['sleep', '30']);
  t.equal(sleeper.child.kill('SIGTERM'), true);
  t.same(await sleeper.child.exited, { code: null, signal: 'SIGTERM' });
  t.equal(sleeper.child.kill('SIGKILL'), false);
});

t.test('deathSignal kills the child when the spawner dies', async (t) => {
  const proc = nodeSpawn(process.execPath, [path.join(fixtures, 'native-spawner.mjs'), 'orphan', facade], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  await new Promise((resolve) => proc.on('close', resolve));
  const pid = Number(out);
  t.ok(pid > 0, 'the spawner started a child');
  const gone = () => {
    try {
      return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // killed, awaiting its new reaper
    } catch {
      return true;
    }
  };
  for (let i = 0; i < 100 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(gone(), 'the orphan got SIGKILL');
  if (!gone()) process.kill(pid, 'SIGKILL');
});

t.test('unixListen: clients connect to the backlog, a child accepts on fd 3', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'app.sock');
  const listener = owned(t, unixListen(sock, 16));
  // Nobody accepts yet: the connection completes against the backlog, as in a cold start.
  const client = net.connect(sock);
  t.teardown(() => client.destroy());
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  let reply = '';
  client.setEncoding('utf8').on('data', (s: string) => (reply += s));
  const ended = new Promise((resolve) => client.once('end', resolve));
  const { child } = run(t, process.execPath, ['node', probe, 'serve'], {}, [listener], { listenFdNames: ['app'] });
  await ended;
  t.equal(reply, `hello ${child.pid}`, 'the queued connection was accepted by the instance');
  t.same(await child.exited, { code: 0, signal: null });
  t.throws(() => unixListen(path.join(dir, 'x'.repeat(120)), 1), { code: 'WG_ERR_SYSCALL', errno: 'ENAMETOOLONG', syscall: 'unixListen' });
  t.throws(() => unixListen(sock, 1), { code: 'WG_ERR_SYSCALL', errno: 'EADDRINUSE' }, 'the caller owns stale paths');
});

t.test('unixListen gives the socket file the mode asked for, whatever the umask, and the group; a bad mode makes nothing', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'access.sock');
  const before = process.umask(0); // the widest a bind can make it: 0777
  try {
    owned(t, unixListen(sock, 16, { mode: 0o640, gid: 1 }));
  } finally {
    process.umask(before);
  }
  t.equal(lstatSync(sock).mode & 0o7777, 0o640, 'the mode asked for, not the umask’s');
  t.equal(lstatSync(sock).gid, 1);
  t.throws(() => unixListen(path.join(dir, 'bad.sock'), 16, { mode: 0o10000 }), { code: 'WG_ERR_SYSCALL', errno: 'EINVAL' });
  t.notOk(existsSync(path.join(dir, 'bad.sock')), 'refused before bind: nothing made');
});

t.test('closeFd and pipe', async (t) => {
  const [r, w] = pipe();
  t.not(r, w);
  closeFd(r);
  closeFd(w);
  t.throws(() => closeFd(r), { code: 'WG_ERR_SYSCALL', errno: 'EBADF', errnoNumber: 9 });
});
