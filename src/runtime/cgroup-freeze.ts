import { writeFileSync } from 'node:fs';
import { DEFAULTS } from '../defaults.js';
import type { Cgroups } from './cgroup.js';
import { isFrozen, until } from './cgroup-kill.js';

/**
 * Freezes (`frozen`) or thaws an instance's whole cgroup: cgroup2's `cgroup.freeze` where the instance has a
 * cgroup2 cgroup (also hybrid's unified one, as a stop uses it), else v1's `freezer.state`. Resolves once the
 * kernel reports the cgroup frozen (a freeze waits for every task to stop; a task in uninterruptible sleep
 * may hold it up to `cgroupFreezeMs`, then this throws and thaws again, so a failed freeze never leaves a
 * half-frozen instance). A thaw is effective at the write. Throws when the instance has no freezer.
 */
export async function setCgroupFrozen(cgroups: Cgroups, id: string, frozen: boolean): Promise<void> {
  const v2File = cgroups.controlFile(id, 'cgroup.freeze');
  const v2 = v2File !== undefined;
  const file = v2File ?? cgroups.controlFile(id, 'freezer.state');
  if (!file) throw new Error(`instance ${id} has no cgroup freezer`);
  writeFileSync(file, frozen ? (v2 ? '1' : 'FROZEN') : v2 ? '0' : 'THAWED');
  if (!frozen) return;
  if (await until(() => isFrozen(file, v2), DEFAULTS.internal.cgroupFreezeMs)) return;
  writeFileSync(file, v2 ? '0' : 'THAWED');
  throw new Error(`instance ${id} did not freeze within ${DEFAULTS.internal.cgroupFreezeMs} ms`);
}
