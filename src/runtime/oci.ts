import { readdirSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import type { ChildHandle, ExitStatus } from '../native/index.js';
import { writeBundle } from './bundle.js';
import type { Cgroups } from './cgroup.js';
import { releaseCgroup } from './cgroup-kill.js';
import { makeDirs } from './dirs.js';
import { DEFAULT_PATH } from './executable.js';
import { InstanceIds, INSTANCE_PREFIX } from './instance-ids.js';
import { spawnWithOutput } from './output.js';
import type { RuncCli } from './runc.js';
import type { ExitInfo, HandedSocket, Instance, InstanceStats, Runtime } from './runtime.js';
import { delay, stopInSteps } from './stop-sequence.js';

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/**
 * Instances as OCI containers run by runc (or crun): `runc run` is spawned through the native addon with
 * the app socket at fd 3 and LISTEN_PID set to runc's own pid, so runc passes the socket on to the
 * container (where the app sees fd 3, LISTEN_FDS=1, LISTEN_PID=1).
 */
export class OciRuntime implements Runtime {
  readonly kind = 'oci';

  constructor(
    private readonly runc: RuncCli,
    private readonly bundlesDir: string,
    private readonly cgroups: Cgroups,
    private readonly ids: InstanceIds = new InstanceIds(),
  ) {
    makeDirs(runc.root);
    makeDirs(bundlesDir);
  }

  /**
   * Removes the containers a gateway that died left behind (killed by `delete --force`, which also removes
   * their cgroups); the cgroups runc no longer knows are removeLeftoverCgroups' work. Returns their ids.
   */
  async removeStale(log: Logger): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await this.runc.list()) {
      if (!id.startsWith(INSTANCE_PREFIX)) continue;
      const result = await this.runc.delete(id);
      if (!result.ok) log.warn({ instance: id, stderr: result.stderr }, 'failed to delete stale container, ignoring');
      removed.push(id);
    }
    return removed;
  }

  /**
   * Called once every instance has exited: leaves no empty cgroup directories and no generated bundles
   * (each start writes its bundle afresh; a user-supplied bundle is only copied there, never modified).
   */
  close(): void {
    this.cgroups.removeScope();
    let bundles: string[] = [];
    try {
      bundles = readdirSync(this.bundlesDir);
    } catch {
      return;
    }
    for (const name of bundles) {
      try {
        rmSync(join(this.bundlesDir, name), { recursive: true, force: true });
      } catch {
        // kept (a container that would not die still uses it); the next start of the app rewrites it
      }
    }
  }

  async start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance> {
    const id = this.ids.next(app.name);
    const cgroupsPath = this.cgroups.claim(id);
    const instanceLog = log.child({ instance: id });
    let spawned: ReturnType<typeof spawnWithOutput>;
    try {
      const bundle = writeBundle(join(this.bundlesDir, app.name), app, { cgroupsPath, fdNames: sockets.map((s) => s.name) });
      spawned = spawnWithOutput(
        this.runc.binary,
        this.runc.runArgs(bundle, id),
        { PATH: process.env.PATH || DEFAULT_PATH },
        sockets.map((s) => s.fd),
        // runc forwards SIGTERM to the container; what survives a dead gateway is removed at its next start.
        { setsid: true, listenFdNames: sockets.map((s) => s.name), deathSignal: 'SIGTERM' },
        instanceLog,
      );
    } catch (err) {
      this.cgroups.release(id);
      throw err;
    }
    const { child, output } = spawned;
    return new Container(id, child, output, this.runc, this.cgroups, instanceLog);
  }
}

class Container implements Instance {
  readonly runtime = 'oci';
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private stopping?: Promise<ExitInfo>;
  private paused = false;

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
      // Empty already unless delete failed; then this kills what runc left, and removes the directories.
      await releaseCgroup(this.cgroups, id, log);
      await Promise.race([output, delay(DEFAULTS.internal.outputDrainMs)]);
      return { ...fromRunc(status), ...(oom ? { oom } : {}) };
    });
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= stopInSteps(
      {
        // Before the container exists, runc kill fails; runc itself then forwards our SIGTERM to it.
        terminate: async () => {
          // A paused container would get the SIGTERM only at a resume: resume it so that it can shut down in its grace.
          if (this.paused) await this.thaw().catch(() => undefined);
          return (await this.runc.kill(this.id, 'TERM')).ok || this.child.kill('SIGTERM');
        },
        kill: async () => {
          if (!(await this.runc.kill(this.id, 'KILL')).ok) await this.runc.delete(this.id);
          if ((await Promise.race([this.exited, delay(DEFAULTS.internal.ociKillGraceMs)])) === undefined) this.child.kill('SIGKILL');
        },
        exited: this.exited,
      },
      graceMs,
      this.log,
    );
    return this.stopping;
  }

  async freeze(): Promise<void> {
    const paused = await this.runc.pause(this.id);
    if (!paused.ok) throw new Error(`runc pause ${this.id} failed: ${paused.stderr}`);
    this.paused = true;
  }

  async thaw(): Promise<void> {
    const resumed = await this.runc.resume(this.id);
    if (!resumed.ok) throw new Error(`runc resume ${this.id} failed: ${resumed.stderr}`);
    this.paused = false;
  }

  async stats(): Promise<InstanceStats> {
    return { memoryBytes: this.cgroups.memoryBytes(this.id), cpuNs: this.cgroups.cpuNs(this.id) };
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
