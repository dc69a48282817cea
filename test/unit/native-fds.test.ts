// Native edge cases: the CLOEXEC pass on kernels without close_range, and reaping a child nobody watches.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Binding } from '../../src/native/binding.js';
import { SyscallError } from '../../src/errors.js';
import { signalListed, spawn } from '../../src/native/index.js';

let root = path.dirname(fileURLToPath(import.meta.url));
while (!existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
const facade = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));
const binding = createRequire(import.meta.url)(path.join(root, 'native/build/Release/wakegate.node')) as Binding;
const compiler = spawnSync('cc', ['--version']).status === 0;

t.test('without close_range, an fd above RLIMIT_NOFILE (opened before it was lowered) is not inherited', { skip: compiler ? false : 'needs a C compiler (apt-get install gcc)' }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-nofd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const helper = path.join(dir, 'no-close-range');
  execFileSync('cc', ['-o', helper, path.join(root, 'test/fixtures/no-close-range.c')]);
  const hard = Number(execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }));
  const fd = Math.min(10_000, hard - 1);
  // The shell opens `fd` without FD_CLOEXEC, then lowers both limits below it: a walk bounded by the
  // limit (the old fallback) never reaches it. The helper makes close_range fail with ENOSYS.
  const script = `exec ${fd}</dev/null; ulimit -n 64; exec "$@"`;
  const out = execFileSync('bash', ['-c', script, 'bash', helper, process.execPath, path.join(root, 'test/fixtures/native-high-fd.mjs'), facade, String(fd)], {
    encoding: 'utf8',
  });
  const report = JSON.parse(out) as { parentHas: string; childSaw: boolean };
  t.equal(report.parentHas, '/dev/null', 'precondition: the spawner holds the fd');
  t.equal(report.childSaw, false, 'the child does not');
});

t.test('reap: a killed child that no watcher waits for is reaped, not left a zombie', async (t) => {
  const r = binding.spawn('/bin/sleep', ['sleep', '100'], [], [], {});
  if ('error' in r) throw new Error(`spawn failed at ${r.step}: ${r.error}`);
  t.teardown(() => binding.close(r.pidfd));
  t.equal(binding.pidfdSendSignal(r.pidfd, os.constants.signals.SIGKILL), 0);
  t.equal(binding.reap(r.pidfd), 0, 'reaped');
  t.notOk(existsSync(`/proc/${r.pid}`) && /^State:\s+Z/m.test(readFileSync(`/proc/${r.pid}/status`, 'utf8')), 'no zombie left');
  t.equal(binding.reap(r.pidfd), -os.constants.errno.ECHILD, 'a second reap finds nothing');
});

t.test('watchExit can fail: a second watch of one pidfd gets EEXIST, the first still reaps', async (t) => {
  const r = binding.spawn('/bin/sleep', ['sleep', '100'], [], [], {});
  if ('error' in r) throw new Error(`spawn failed at ${r.step}: ${r.error}`);
  const first = new Promise<number>((done) => t.equal(binding.watchExit(r.pidfd, (_c, _s, err) => done(err)), 0));
  t.equal(binding.watchExit(r.pidfd, () => {}), -os.constants.errno.EEXIST, 'the second watch fails');
  binding.pidfdSendSignal(r.pidfd, os.constants.signals.SIGKILL);
  t.equal(await first, 0, 'the first watch still reaps');
  binding.close(r.pidfd);
});

const freezer = '/sys/fs/cgroup/freezer';
const cgroupSkip = process.getuid?.() !== 0 ? 'cgroups need root' : !existsSync(path.join(freezer, 'cgroup.procs')) ? 'no v1 freezer hierarchy on this host' : false;

t.test('cgroupProcs: the child is in the cgroup before it execs; a failed join fails the spawn', { skip: cgroupSkip }, async (t) => {
  const name = `wakegate-native-test-${process.pid}`;
  const dir = path.join(freezer, name);
  mkdirSync(dir);
  t.teardown(() => rmdirSync(dir));
  const out = mkdtempSync(path.join(os.tmpdir(), 'wg-cgjoin-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const stdout = openSync(path.join(out, 'cgroup'), 'w');
  const procs = openSync(path.join(dir, 'cgroup.procs'), 'w');
  try {
    // cat reads its own /proc/self/cgroup as its first act: it was never anywhere else.
    const child = spawn('/bin/cat', ['cat', '/proc/self/cgroup'], {}, [], { stdio: [0, stdout, 2], cgroupProcs: [procs] });
    t.same(await child.exited, { code: 0, signal: null });
  } finally {
    closeSync(stdout);
  }
  t.match(readFileSync(path.join(out, 'cgroup'), 'utf8'), new RegExp(`^\\d+:freezer:/${name}$`, 'm'));
  const readOnly = openSync(path.join(dir, 'cgroup.procs'), 'r');
  t.teardown(() => closeSync(readOnly));
  closeSync(procs);
  let failure: unknown;
  try {
    spawn('/bin/true', ['true'], {}, [], { cgroupProcs: [readOnly] });
  } catch (err) {
    failure = err;
  }
  t.ok(failure instanceof SyscallError, 'a SyscallError');
  t.match(failure, { syscall: 'cgroup.procs', errno: 'EBADF' }, 'from the cgroup step, before execve');
});

const cgroup2 = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((dir) => existsSync(path.join(dir, 'cgroup.controllers')));
const cgroup2Skip = process.getuid?.() !== 0 ? 'cgroups need root' : !cgroup2 ? 'no cgroup2 mount on this host' : false;

t.test('cgroupFd: the child is born in the cgroup2 cgroup (no cgroup.procs write); a bad fd fails the spawn', { skip: cgroup2Skip }, async (t) => {
  const name = `wakegate-native-test-into-${process.pid}`;
  const dir = path.join(cgroup2!, name);
  mkdirSync(dir);
  t.teardown(() => rmdirSync(dir));
  const out = mkdtempSync(path.join(os.tmpdir(), 'wg-cginto-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const stdout = openSync(path.join(out, 'cgroup'), 'w');
  const dirFd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    // A read-only cgroup.procs as the fallback: were it used, the spawn would fail with EBADF.
    const readOnly = openSync(path.join(dir, 'cgroup.procs'), 'r');
    try {
      const child = spawn('/bin/cat', ['cat', '/proc/self/cgroup'], {}, [], { stdio: [0, stdout, 2], cgroupFd: dirFd, cgroupProcs: [readOnly] });
      t.same(await child.exited, { code: 0, signal: null });
    } finally {
      closeSync(readOnly);
    }
  } finally {
    closeSync(stdout);
    closeSync(dirFd);
  }
  t.match(readFileSync(path.join(out, 'cgroup'), 'utf8'), new RegExp(`^0::/${name}$`, 'm'), 'cat read its cgroup as its first act');
  const notCgroup = openSync(out, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  t.teardown(() => closeSync(notCgroup));
  let failure: unknown;
  try {
    spawn('/bin/true', ['true'], {}, [], { cgroupFd: notCgroup });
  } catch (err) {
    failure = err;
  }
  t.ok(failure instanceof SyscallError, 'a SyscallError');
  t.match(failure, { syscall: 'clone_into_cgroup', errno: 'EBADF' }, 'from clone3, with no fork fallback');
});

t.test('signalListed: a pid no longer listed once pinned is left alone; a listed one is signalled', async (t) => {
  const child = spawn('/bin/sleep', ['sleep', '100'], {}, []);
  t.teardown(async () => {
    child.kill('SIGKILL');
    await child.exited;
  });
  t.equal(signalListed([child.pid], () => new Set(), 'SIGKILL'), 0, 'not listed: not signalled');
  t.ok(existsSync(`/proc/${child.pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${child.pid}/status`, 'utf8')), 'still running');
  t.equal(signalListed([child.pid, 2 ** 22 + 1], () => new Set([child.pid]), 'SIGKILL'), 1, 'listed: signalled; a pid that does not exist is skipped');
  t.same(await child.exited, { code: null, signal: 'SIGKILL' });
});
