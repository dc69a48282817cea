// watchProcess: the exit of a process that is not our child (what a restarted gateway adopts), told by its
// pidfd. The process is a real orphan: started by a shell that exits at once, so it is reparented away.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { watchProcess } from '../../src/native/index.js';

/** A `sleep` whose parent (a shell) has already exited: not a child of this process. */
function orphan(): number {
  return Number(execFileSync('sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim());
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('the exit of a non-child resolves `exited`, without a status (its reaper has it)', async (t) => {
  const pid = orphan();
  t.teardown(() => alive(pid) && process.kill(pid, 'SIGKILL'));
  const watched = watchProcess(pid, () => true);
  t.equal(watched.pid, pid);
  t.ok(watched.kill('SIGTERM'), 'signalled through the pidfd');
  t.same(await watched.exited, { code: null, signal: null });
  t.equal(watched.kill('SIGTERM'), false, 'once gone, it cannot be signalled');
});

t.test('a pid that is another process by the time the pidfd pins it is refused, and nothing is watched', async (t) => {
  const pid = orphan();
  t.teardown(() => alive(pid) && process.kill(pid, 'SIGKILL'));
  t.throws(() => watchProcess(pid, () => false), { code: 'WG_ERR_SYSCALL', syscall: 'pidfd_open', errno: 'ESRCH' });
  t.ok(alive(pid), 'the process itself is left alone');
});

t.test('a pid that is gone fails with ESRCH', async (t) => {
  const pid = orphan();
  process.kill(pid, 'SIGKILL');
  // Reaped by its new parent (init, or a subreaper): wait until the pid is free.
  while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 10));
  t.throws(() => watchProcess(pid, () => true), { code: 'WG_ERR_SYSCALL', syscall: 'pidfd_open', errno: 'ESRCH' });
});
