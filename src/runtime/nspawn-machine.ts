import { rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { MachineCgroup } from './machine-cgroup.js';
import type { Machined } from './machined.js';
import { rssBytes } from './process.js';
import type { ExitInfo, Instance, InstanceStats } from './runtime.js';

/** Where nspawn 252 keeps a machine's mount-propagation directory; it stays behind when nspawn is killed. */
const PROPAGATE_DIR = '/run/systemd/nspawn/propagate';
/** And the lock of a root directory, named after its inode (with `.#<name>.lck` beside the root itself). */
const LOCKS_DIR = '/run/systemd/nspawn/locks';

/** A registered instance: machined, and the root its machine runs on (which tells it from another gateway's). */
export interface Registration {
  readonly machined: Machined;
  readonly directory: string;
}

/**
 * An nspawn instance: the launcher's process instance (nspawn in the instance cgroup), whose exit also
 * removes what nspawn left on disk. Registered, the container itself is in machined's scope: once nspawn
 * is gone (its own end, or killed after the grace: an app that ignored SIGTERM outlives it), whatever is
 * left in that scope is killed through machined and the exit waits for MachineRemoved; the stats add the
 * scope's to nspawn's.
 */
export class NspawnMachine implements Instance {
  readonly runtime = 'nspawn';
  readonly id: string;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private scope: Promise<MachineCgroup | undefined> | undefined;
  private stopping = false;

  constructor(
    private readonly launched: Instance,
    root: string | undefined,
    private readonly registered: Registration | undefined,
    log: Logger,
  ) {
    this.id = launched.id;
    this.pid = launched.pid;
    this.exited = launched.exited.then(async (exit) => {
      let oom = false;
      if (registered) {
        // Read before the scope goes: an OOM kill in the container shows only there.
        oom = ((await this.scope?.catch(() => undefined))?.oomKills() ?? 0) > 0;
        const gone = await registered.machined.end(launched.id, registered.directory).catch((err: unknown) => {
          log.warn({ err, instance: launched.id }, 'failed to end the machine through machined, ignoring');
          return true;
        });
        if (!gone) log.warn({ instance: launched.id }, 'the machine was not removed in time, ignoring');
      }
      removeMachineDirs(root, launched.id);
      return oom ? { ...exit, oom } : exit;
    });
  }

  async stop(graceMs: number): Promise<ExitInfo> {
    if (this.registered && !this.stopping) {
      // With nspawn's SIGKILL, not after it: the container it leaves holds nspawn's output pipes, which
      // the launcher's exit would wait for (outputDrainMs) before the machine is ended.
      const { machined, directory } = this.registered;
      const timer = setTimeout(() => void machined.end(this.id, directory).catch(() => undefined), graceMs);
      void this.exited.then(() => clearTimeout(timer));
    }
    this.stopping = true;
    await this.launched.stop(graceMs);
    return this.exited;
  }

  async stats(): Promise<InstanceStats> {
    const own = await this.launched.stats();
    if (!this.registered) return own;
    // Looked up once: the container's leader and its scope are fixed for the machine's life.
    const { machined, directory } = this.registered;
    this.scope ??= machined.machine(this.id).then((found) => (found?.rootDirectory === directory ? MachineCgroup.of(found.leader) : undefined));
    const scope = await this.scope.catch(() => undefined);
    if (!scope) {
      this.scope = undefined; // not registered yet: ask again next time
      return own;
    }
    const theirs = scope.stats(rssBytes);
    return { memoryBytes: sum(own.memoryBytes, theirs.memoryBytes), cpuNs: sum(own.cpuNs, theirs.cpuNs) };
  }
}

function sum(a: number | null, b: number | null): number | null {
  return a === null && b === null ? null : (a ?? 0) + (b ?? 0);
}

/**
 * What nspawn leaves of `machine` when it is killed: the generated root (if any) with its two locks, and
 * the propagation directory. Never throws: an exit must not fail.
 */
export function removeMachineDirs(root: string | undefined, machine: string): void {
  try {
    if (root !== undefined) {
      const { dev, ino } = statSync(root);
      rmSync(join(LOCKS_DIR, `inode-${dev}:${ino}`), { force: true });
      rmSync(join(dirname(root), `.#${basename(root)}.lck`), { force: true });
      rmSync(root, { recursive: true, force: true });
    }
  } catch {
    // gone already, or a mount still held by a process that would not die; the next start-up removes it
  }
  try {
    rmSync(join(PROPAGATE_DIR, machine), { recursive: true, force: true });
  } catch {
    // as above
  }
}
