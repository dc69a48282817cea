import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { Logger } from '../log.js';
import { watchProcess, type ChildHandle } from '../native/index.js';
import type { SystemdManager } from '../systemd/systemd-manager.js';
import { InstanceIds, INSTANCE_PREFIX } from './instance-ids.js';
import type { Instance, Survivor } from './runtime.js';

/** How the gateway marks its tenant scopes, and what a later gateway reads back: app, instance, spec digest. */
const DESCRIPTION = /^wakegate app (\S+) \((\S+), spec ([0-9a-f]{12})\)$/;

export function scopeDescription(app: string, id: string, digest: string): string {
  return `wakegate app ${app} (${id}, spec ${digest})`;
}

/** Makes the Instance of an adopted scope (the runtime's own class), given its main process's watch. */
export type AdoptScope = (id: string, unit: string, child: ChildHandle, log: Logger) => Instance;

/**
 * The running tenant scopes a previous gateway left: `wakegate-*.scope` units whose Description is the
 * gateway's own mark. Someone else's scope under such a name is left alone. The numbering of instances
 * continues above every scope found, so a new instance never takes a name still loaded. A scope of ours
 * whose main process cannot be told (none, or several roots) cannot be watched: it is killed.
 */
export async function findSurvivors(manager: SystemdManager, ids: InstanceIds, log: Logger, adopt: AdoptScope): Promise<Survivor[]> {
  const found: Survivor[] = [];
  for (const unit of await manager.listUnits(`${INSTANCE_PREFIX}*.scope`)) {
    const id = unit.name.replace(/\.scope$/, '');
    const parsed = InstanceIds.parse(id);
    const mark = DESCRIPTION.exec(unit.description);
    if (!parsed || !mark || mark[2] !== id || mark[1] !== parsed.app) continue;
    ids.reserve(parsed.app, parsed.n);
    // Deactivating, or failed and not yet collected: on its way out without us.
    if (unit.activeState !== 'active') continue;
    const pid = mainPid(await manager.processes(unit.name));
    if (pid === undefined) {
      log.warn({ unit: unit.name }, 'a tenant scope of a previous gateway has no single main process to watch; killing it');
      await manager.kill(unit.name, constants.signals.SIGKILL);
      continue;
    }
    const { app } = parsed;
    const digest = mark[3]!;
    found.push({
      app,
      id,
      digest,
      pid,
      adopt: (instanceLog) => {
        const child = watchProcess(pid, () => inUnit(pid, unit.name));
        manager.watch(unit.name);
        return adopt(id, unit.name, child, instanceLog.child({ instance: id, unit: unit.name }));
      },
    });
  }
  return found;
}

/** The process of the scope whose parent is outside it (the app the gateway spawned); undefined unless exactly one. */
function mainPid(pids: readonly number[]): number | undefined {
  const inside = new Set(pids);
  const roots = pids.filter((pid) => {
    const ppid = parentOf(pid);
    return ppid !== undefined && !inside.has(ppid);
  });
  return roots.length === 1 ? roots[0] : undefined;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may hold spaces and parentheses: the fields after its last ')' are state, ppid, ...
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Whether the pid is in the unit's cgroup (unified or systemd's named v1 hierarchy). */
function inUnit(pid: number, unit: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').some((line) => line.endsWith(`/${unit}`));
  } catch {
    return false;
  }
}
