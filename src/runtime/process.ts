import { closeSync, readFileSync } from 'node:fs';
import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import type { ChildHandle } from '../native/index.js';
import type { Cgroups, InstanceCgroup } from './cgroup.js';
import { killCgroup, releaseCgroup } from './cgroup-kill.js';
import { setCgroupFrozen } from './cgroup-freeze.js';
import { spawnApp } from './app-spawn.js';
import { DEFAULT_PATH } from './executable.js';
import { InstanceIds } from './instance-ids.js';
import type { ExitInfo, HandedSocket, Instance, InstanceStats, Runtime } from './runtime.js';
import { delay, stopInSteps } from './stop-sequence.js';

export interface ProcessRuntimeOptions {
  /** Without it (or when its cgroups cannot be made: not root), a stop reaches only the process group. */
  readonly cgroups?: Cgroups;
  readonly ids?: InstanceIds;
  readonly searchPath?: string;
  /** What the instances report as their runtime; another runtime that spawns its launcher here sets its own. */
  readonly kind?: string;
  /** What the child gets when the gateway dies: SIGKILL for an app, SIGTERM for a launcher that must clean up. */
  readonly deathSignal?: NodeJS.Signals;
}

/**
 * Instances as plain child processes: no isolation, for development and for hosts without an OCI runtime.
 * The child gets a clean environment (the app's env, PATH and LISTEN_*), the app dir as cwd, its own
 * session and process group, and PR_SET_PDEATHSIG=SIGKILL. Each instance has a cgroup of its own, which
 * the child is cloned into (or joins before it execs): a stop kills everything in it, whatever left the session, and what a
 * gateway killed outright leaves behind (a detached grandchild) is killed at the next start-up.
 */
export class ProcessRuntime implements Runtime {
  readonly kind: string;
  private readonly ids: InstanceIds;
  private readonly searchPath: string;
  private warned = false;

  constructor(private readonly options: ProcessRuntimeOptions = {}) {
    this.kind = options.kind ?? 'process';
    this.ids = options.ids ?? new InstanceIds();
    this.searchPath = options.searchPath ?? (process.env.PATH || DEFAULT_PATH);
  }

  async start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance> {
    return this.launch(this.ids.next(app.name), app, sockets, log);
  }

  /** Starts `app` as instance `id`, which the caller took from the shared numbering (a launcher needs it first). */
  launch(id: string, app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Instance {
    const instanceLog = log.child({ instance: id });
    const cgroups = this.options.cgroups;
    const cgroup = cgroups && this.cgroupFor(cgroups, id, log);
    let spawned: ReturnType<typeof spawnApp>;
    try {
      const placement = { cgroupFd: cgroup?.dirFd, cgroupProcs: cgroup?.procs, ...(this.options.deathSignal && { deathSignal: this.options.deathSignal }) };
      spawned = spawnApp(app, sockets, this.searchPath, placement, instanceLog);
    } catch (err) {
      if (cgroup) cgroups.release(id);
      throw err;
    } finally {
      for (const fd of cgroup ? [...cgroup.procs, ...(cgroup.dirFd === undefined ? [] : [cgroup.dirFd])] : []) closeSync(fd);
    }
    return new ProcessInstance(this.kind, id, spawned.child, spawned.output, cgroup ? cgroups : undefined, instanceLog);
  }

  private cgroupFor(cgroups: Cgroups, id: string, log: Logger): InstanceCgroup | undefined {
    try {
      return cgroups.create(id);
    } catch (err) {
      if (!this.warned) log.warn({ err }, 'failed to create cgroups for process instances; a stop reaches only their process group, ignoring');
      this.warned = true;
      return undefined;
    }
  }
}

class ProcessInstance implements Instance {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private stopping?: Promise<ExitInfo>;
  private frozen = false;
  /** Only with a cgroup: without one, nothing could freeze the whole instance at once. */
  readonly freeze?: () => Promise<void>;
  readonly thaw?: () => Promise<void>;

  constructor(
    readonly runtime: string,
    readonly id: string,
    private readonly child: ChildHandle,
    output: Promise<unknown>,
    private readonly cgroups: Cgroups | undefined,
    private readonly log: Logger,
  ) {
    this.pid = child.pid;
    if (cgroups) {
      this.freeze = async () => {
        await setCgroupFrozen(cgroups, id, true);
        this.frozen = true;
      };
      this.thaw = async () => {
        await setCgroupFrozen(cgroups, id, false);
        this.frozen = false;
      };
    }
    this.exited = child.exited.then(async (status) => {
      const oom = (cgroups?.oomKills(id) ?? 0) > 0;
      // Whatever the app forked and left behind goes with it.
      if (cgroups) await releaseCgroup(cgroups, id, log);
      else killGroup(child.pid);
      // Output is drained once the last writer is gone, which the kill above usually guarantees; without
      // a cgroup a grandchild that left the group (setsid) may hold the pipe longer, so the wait is bounded.
      await Promise.race([output, delay(DEFAULTS.internal.outputDrainMs)]);
      return oom ? { ...status, oom } : status;
    });
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= stopInSteps(
      {
        terminate: () => {
          // A frozen process would get the SIGTERM only at a thaw: thaw it so that it can shut down in its grace.
          if (this.frozen) this.thaw?.().catch(() => undefined);
          return this.child.kill('SIGTERM');
        },
        kill: () => {
          this.child.kill('SIGKILL');
          // The group id stays reserved while any member lives, so this cannot hit an unrelated process.
          return this.cgroups ? killCgroup(this.cgroups, this.id) : killGroup(this.child.pid);
        },
        exited: this.exited,
      },
      graceMs,
      this.log,
    );
    return this.stopping;
  }

  /**
   * Memory from the cgroup's memory controller where it has one; else (hybrid hosts' unified hierarchy,
   * no cgroup) the sum of the RSS of its processes: the process runtime sets no memory limit to mirror.
   */
  async stats(): Promise<InstanceStats> {
    const whole = this.cgroups?.memoryBytes(this.id);
    const cpuNs = this.cgroups?.cpuNs(this.id) ?? procCpuNs(this.pid);
    if (whole !== undefined && whole !== null) return { memoryBytes: whole, cpuNs };
    const pids = this.cgroups?.pidsOf(this.id) ?? [];
    const sizes = (pids.length > 0 ? pids : [this.pid]).map(rssBytes).filter((n): n is number => n !== null);
    return { memoryBytes: sizes.length === 0 ? null : sizes.reduce((a, b) => a + b, 0), cpuNs };
  }
}

/** VmRSS of one pid in bytes; null once gone (or a zombie, which has no VmRSS line). */
export function rssBytes(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/**
 * utime + stime of one pid (its children not counted until reaped), from /proc/<pid>/stat. Ticks are taken
 * as 1/100 s: USER_HZ is 100 on every Linux architecture Node runs on, and Node cannot ask sysconf.
 */
function procCpuNs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000_000;
  } catch {
    return null;
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already empty
  }
}
