// spawnHeld: a child set up to the last step before execve, which runs its program only once released.
import { spawn as nodeSpawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SpawnError } from '../../src/errors.js';
import { closeFd, pipe, spawnHeld, type HeldChildHandle, type SpawnOptions } from '../../src/native/index.js';

type Test = Pick<typeof t, 'teardown'>;

const facade = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));
let root = path.dirname(fileURLToPath(import.meta.url));
while (!existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
const spawner = path.join(root, 'test', 'fixtures', 'native-spawner.mjs');

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-hold-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A held child with stdout into a temp file; `output()` reads it once the child is reaped. */
function held(t: Test, file: string, argv: string[], fds: number[] = [], opts: SpawnOptions = {}) {
  const out = path.join(tempDir(t), 'stdout');
  const stdin = openSync('/dev/null', 'r');
  const stdout = openSync(out, 'w');
  let child: HeldChildHandle;
  try {
    child = spawnHeld(file, argv, {}, fds, { stdio: [stdin, stdout, 2], ...opts });
  } finally {
    closeSync(stdin);
    closeSync(stdout);
  }
  t.teardown(async () => {
    child.cancel();
    child.kill('SIGKILL');
    await child.exited;
  });
  return { child, output: async () => ((await child.exited), readFileSync(out, 'utf8')) };
}

function gone(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // exited, awaiting its new reaper
  } catch {
    return true;
  }
}

t.test('a held child is set up (LISTEN_PID, fds, cwd) but runs nothing of its program until released', async (t) => {
  const dir = tempDir(t);
  const [r, w] = pipe();
  t.teardown(() => { closeFd(r); closeFd(w); });
  const { child, output } = held(t, '/bin/sh', ['sh', '-c', 'echo "$LISTEN_PID $LISTEN_FDS $(pwd) $(readlink /proc/self/fd/3)"'], [w], { listenFdNames: ['x'], cwd: dir });
  // Still the gateway's image: it has not exec'd, and wrote nothing.
  t.equal(readlinkSync(`/proc/${child.pid}/exe`), readlinkSync('/proc/self/exe'), 'not exec\'d yet');
  t.equal(readlinkSync(`/proc/${child.pid}/cwd`), dir, 'its set-up is done (cwd)');
  // Set up, it tells the parent and then blocks on the hold: for a moment between the two it still runs.
  const state = (): string => readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(' ')[2]!;
  for (let i = 0; i < 500 && state() !== 'S'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(state(), 'S', 'asleep on its hold');
  t.equal(readlinkSync(`/proc/${child.pid}/exe`), readlinkSync('/proc/self/exe'), 'and still not exec\'d');
  child.release();
  const out = await output();
  t.same(await child.exited, { code: 0, signal: null });
  t.equal(out, `${child.pid} 1 ${dir} ${readlinkSync(`/proc/self/fd/${w}`)}\n`);
  t.throws(() => child.release(), /released or cancelled already/, 'a hold is used once');
});

t.test('cancel: the child exits 127 and never runs its program', async (t) => {
  const { child, output } = held(t, '/bin/sh', ['sh', '-c', 'echo ran']);
  child.cancel();
  const out = await output();
  t.same(await child.exited, { code: 127, signal: null });
  t.equal(out, '', 'nothing ran');
  t.doesNotThrow(() => child.cancel(), 'idempotent');
});

t.test('killed while held, then released: the release says EPIPE', async (t) => {
  const { child } = held(t, '/bin/sh', ['sh', '-c', 'echo ran']);
  child.kill('SIGKILL');
  t.same(await child.exited, { code: null, signal: 'SIGKILL' });
  t.throws(() => child.release(), { code: 'WG_ERR_SYSCALL', syscall: 'write', errno: 'EPIPE' });
});

t.test('execve failures are thrown by release as SpawnErrors; set-up failures by spawnHeld', async (t) => {
  const dir = tempDir(t);
  const plain = path.join(dir, 'plain');
  writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
  const { child } = held(t, plain, ['plain']);
  t.throws(() => child.release(), new SpawnError(plain, 'EACCES', 13));
  t.same(await child.exited, { code: 127, signal: null });
  t.throws(() => spawnHeld('/bin/true', ['true'], {}, [], { cwd: path.join(dir, 'missing') }), { code: 'WG_ERR_SYSCALL', syscall: 'chdir', errno: 'ENOENT' });
});

t.test('the spawner dies while its children are held: each reads EOF and exits without exec', async (t) => {
  const proc = nodeSpawn(process.execPath, [spawner, 'held', facade], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  await new Promise((resolve) => proc.on('close', resolve));
  const pids = JSON.parse(out) as number[];
  t.equal(pids.length, 2, 'two held children');
  // The second holds a copy of the first one's write end until it exits itself: both must go.
  for (let i = 0; i < 250 && !pids.every(gone); i++) await new Promise((r) => setTimeout(r, 20));
  for (const pid of pids) {
    t.ok(gone(pid), `held child ${pid} is gone`);
    if (!gone(pid)) process.kill(pid, 'SIGKILL');
  }
});
