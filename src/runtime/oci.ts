import { mkdirSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import type { ChildHandle, ExitStatus } from '../native/index.js';
import { writeBundle } from './bundle.js';
import type { Cgroups } from './cgroup.js';
import { makeDirs } from './dirs.js';
import { DEFAULT_PATH } from './executable.js';
import { spawnWithOutput } from './output.js';
import type { RuncCli } from './runc.js';
import type { ExitInfo, Instance, InstanceStats, Runtime } from './runtime.js';

/** Container ids are `wakegate-<app>-<n>`; the prefix is how leftovers of a dead gateway are recognised. */
export const CONTAINER_PREFIX = 'wakegate-';

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/**
 * Instances as OCI containers run by runc (or crun): `runc run` is spawned through the native addon with
 * the app socket at fd 3 and LISTEN_PID set to runc's own pid, so runc passes the socket on to the
 * container (where the app sees fd 3, LISTEN_FDS=1, LISTEN_PID=1).
 */
export class OciRuntime implements Runtime {
  readonly kind = 'oci';
  private serial = 0;

  constructor(
    private readonly runc: RuncCli,
    private readonly bundlesDir: string,
    private readonly cgroups: Cgroups,
  ) {
    makeDirs(runc.root);
    makeDirs(bundlesDir);
  }

  /**
   * Removes what a gateway that died left behind: its containers (killed by `delete --force`), then any
   * cgroup still holding processes or left empty. Returns the ids it removed.
   */
  async removeStale(log: Logger): Promise<string[]> {
    const removed = new Set<string>();
    for (const id of await this.runc.list()) {
      if (!id.startsWith(CONTAINER_PREFIX)) continue;
      const result = await this.runc.delete(id);
      if (!result.ok) log.warn({ container: id, stderr: result.stderr }, 'failed to delete stale container, ignoring');
      removed.add(id);
    }
    for (const id of this.cgroups.leftovers()) {
      for (const pid of this.cgroups.pidsOf(id)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await waitFor(() => this.cgroups.pidsOf(id).length === 0, 2_000);
      const stuck = this.cgroups.remove(id);
      if (stuck.length > 0) log.warn({ container: id, dirs: stuck }, 'failed to remove stale cgroup, ignoring');
      removed.add(id);
    }
    return [...removed];
  }

  /** Called once every instance has exited: leaves no empty cgroup directories behind. */
  close(): void {
    this.cgroups.removeScope();
  }

  async start(app: AppSpec, sockets: readonly number[], log: Logger): Promise<Instance> {
    const id = `${CONTAINER_PREFIX}${app.name}-${++this.serial}`;
    const bundle = writeBundle(join(this.bundlesDir, app.name), app, { cgroupsPath: this.cgroups.pathFor(id) });
    const instanceLog = log.child({ instance: id });
    const { child, output } = spawnWithOutput(
      this.runc.binary,
      this.runc.runArgs(bundle, id),
      { PATH: process.env.PATH || DEFAULT_PATH },
      sockets,
      // runc forwards SIGTERM to the container; what survives a dead gateway is removed at its next start.
      { setsid: true, listenFdNames: sockets.map(() => app.name), deathSignal: 'SIGTERM' },
      instanceLog,
    );
    return new Container(id, child, output, this.runc, this.cgroups, instanceLog);
  }
}

class Container implements Instance {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private stopping?: Promise<ExitInfo>;

  constructor(
    readonly id: string,
    private readonly child: ChildHandle,
    output: Promise<unknown>,
    private readonly runc: RuncCli,
    private readonly cgroups: Cgroups,
    private readonly log: Logger,
  ) {
    this.pid = child.pid;
    this.exited = child.exited.then(async (status) => {
      // Read before delete: the OOM count lives in the cgroup, which delete removes.
      const oom = (this.cgroups.oomKills(id) ?? 0) > 0;
      const removed = await this.runc.delete(id);
      if (!removed.ok && !/does not exist|not found/i.test(removed.stderr)) log.warn({ stderr: removed.stderr }, 'failed to delete container, ignoring');
      const stuck = this.cgroups.remove(id);
      if (stuck.length > 0) log.warn({ dirs: stuck }, 'failed to remove cgroup, ignoring');
      await Promise.race([output, delay(2_000)]);
      return { ...fromRunc(status), ...(oom ? { oom } : {}) };
    });
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= (async () => {
      // Before the container exists, runc kill fails; runc itself then forwards our SIGTERM to it.
      if (!(await this.runc.kill(this.id, 'TERM')).ok) this.child.kill('SIGTERM');
      if ((await Promise.race([this.exited, delay(graceMs)])) !== undefined) return this.exited;
      if (!(await this.runc.kill(this.id, 'KILL')).ok) await this.runc.delete(this.id);
      if ((await Promise.race([this.exited, delay(DEFAULTS.internal.ociKillGraceMs)])) === undefined) this.child.kill('SIGKILL');
      return this.exited;
    })();
    return this.stopping;
  }

  async stats(): Promise<InstanceStats> {
    return { memoryBytes: this.cgroups.memoryBytes(this.id) };
  }
}

/**
 * runc exits with the container init's status, and with 128+N when a signal N killed it (as shells do);
 * that is turned back into the signal. An app exiting with such a code on purpose reads as that signal.
 */
function fromRunc(status: ExitStatus): ExitInfo {
  if (status.signal !== null || status.code === null) return status;
  const signal = status.code > 128 ? SIGNAL_NAMES.get(status.code - 128) : undefined;
  return signal ? { code: null, signal } : status;
}

function delay(ms: number): Promise<undefined> {
  return new Promise((done) => setTimeout(done, ms, undefined).unref());
}

/** Polls: the kernel gives no event for a cgroup emptied of killed processes. Only used at start-up. */
async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  // A referenced timer: at start-up this wait may be all that keeps the process alive.
  while (!check() && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
}
