import { readFileSync, writeFileSync } from 'node:fs';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import { signalListed } from '../native/index.js';
import type { Cgroups } from './cgroup.js';

/**
 * SIGKILLs every process in an instance's cgroup, including those that left its session or process group.
 * - cgroup2 (also hybrid's unified hierarchy) with `cgroup.kill` (5.14+): one write, which the kernel applies atomically, forks in flight included.
 * - otherwise, with a freezer (v1 `freezer.state`, v2 `cgroup.freeze`): freeze, signal every listed pid,
 *   thaw. A frozen process cannot fork, so the list is complete when it is read; the kills land at thaw.
 * - in any case, then: list and kill until the cgroup is empty. That alone would also converge (a killed
 *   process forks no more, and a child forked meanwhile is listed at the next round), so it covers a
 *   freeze that did not complete (a task in uninterruptible sleep) and hosts without a freezer.
 * Every kill by pid goes through a pidfd opened before the list is read again, so that a pid which exited
 * and was reused by an unrelated process meanwhile is never signalled (cgroup.kill needs no pids at all).
 * Resolves once the cgroup holds no process, or after `DEFAULTS.internal.cgroupEmptyMs` (then false).
 * Polls: the kernel gives no event for a v1 cgroup that became empty, and this runs only at a stop.
 */
export async function killCgroup(cgroups: Cgroups, id: string): Promise<boolean> {
  const killFile = cgroups.controlFile(id, 'cgroup.kill');
  if (killFile) {
    tryWrite(killFile, '1');
  } else {
    // cgroup2's freezer where the instance has a cgroup2 cgroup (also hybrid's unified one), else v1's.
    const v2Freezer = cgroups.controlFile(id, 'cgroup.freeze');
    const v2 = v2Freezer !== undefined;
    const freezer = v2Freezer ?? cgroups.controlFile(id, 'freezer.state');
    if (freezer && tryWrite(freezer, v2 ? '1' : 'FROZEN')) {
      await until(() => isFrozen(freezer, v2), DEFAULTS.internal.cgroupFreezeMs);
      killPids(cgroups, id, cgroups.pidsOf(id));
      tryWrite(freezer, v2 ? '0' : 'THAWED');
    }
  }
  return until(() => {
    const pids = cgroups.pidsOf(id);
    killPids(cgroups, id, pids);
    return pids.length === 0;
  }, DEFAULTS.internal.cgroupEmptyMs);
}

/** Kills what is left in the instance's cgroup and removes its directories, then the scope if no instance is left. */
export async function releaseCgroup(cgroups: Cgroups, id: string, log: Logger): Promise<void> {
  if (!(await killCgroup(cgroups, id))) log.warn({ pids: cgroups.pidsOf(id) }, 'failed to empty cgroup, ignoring');
  const stuck = cgroups.release(id);
  if (stuck.length > 0) log.warn({ dirs: stuck }, 'failed to remove cgroup, ignoring');
}

/**
 * Start-up clean-up: the cgroups a gateway that died left behind (containers whose runc state is gone,
 * and process instances, which have no other trace), with every process still in them. Returns their ids.
 */
export async function removeLeftoverCgroups(cgroups: Cgroups, log: Logger): Promise<string[]> {
  const ids = cgroups.leftovers();
  for (const id of ids) {
    if (!(await killCgroup(cgroups, id))) log.warn({ instance: id, pids: cgroups.pidsOf(id) }, 'failed to kill the processes of a stale cgroup, ignoring');
    const stuck = cgroups.remove(id);
    if (stuck.length > 0) log.warn({ instance: id, dirs: stuck }, 'failed to remove stale cgroup, ignoring');
  }
  return ids;
}

export function isFrozen(file: string, v2: boolean): boolean {
  try {
    const text = readFileSync(v2 ? file.replace(/cgroup\.freeze$/, 'cgroup.events') : file, 'utf8');
    return v2 ? /^frozen 1$/m.test(text) : text.trim() === 'FROZEN';
  } catch {
    return true; // gone: nothing left to wait for
  }
}

/** SIGKILLs the listed pids that are still in the instance's cgroup once pinned (no kill of a reused pid). */
function killPids(cgroups: Cgroups, id: string, pids: readonly number[]): void {
  if (pids.length > 0) signalListed(pids, () => new Set(cgroups.pidsOf(id)), 'SIGKILL');
}

function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

export async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  // A referenced timer: at start-up this wait may be all that keeps the process alive.
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((done) => setTimeout(done, 10));
  }
}
