import { constants } from 'node:os';
import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import type { ChildHandle } from '../native/index.js';
import type { SystemdManager } from '../systemd/systemd-manager.js';
import { DEFAULT_PATH } from './executable.js';
import { InstanceIds } from './instance-ids.js';
import { JournalOutput } from './journal-stream.js';
import { rssBytes } from './process.js';
import type { ExitInfo, HandedSocket, Instance, InstanceStats, Runtime, Survivor } from './runtime.js';
import { ScopeOomWatch } from './scope-oom.js';
import { spawnInScope } from './scope-spawn.js';
import { findSurvivors, scopeDescription } from './scope-survivors.js';
import { specDigest } from './spec-digest.js';
import { delay, stopInSteps } from './stop-sequence.js';

/** The slice every tenant scope is placed under, so `systemd-cgls` and `systemctl status` show them together. */
export const TENANT_SLICE = 'wakegate.slice';
/** The job types under which the gateway's own unit stops only to start again. */
const RESTART_JOBS = new Set(['restart', 'try-restart']);

/**
 * Instances as transient systemd scopes: the app is spawned as the process runtime spawns it, but held
 * before execve until StartTransientUnit has placed it in `wakegate-<app>-<n>.scope` under wakegate.slice,
 * which carries its limits (MemoryMax, MemorySwapMax=0, TasksMax, CPUWeight) and makes it visible to
 * systemctl, systemd-cgls and journalctl (its output goes to the journal). The start counts once the job is
 * done and the app exec'd; a failed placement kills the child before it ran (scope-spawn.ts). Exits are
 * still learnt through the pidfd.
 */
export class SystemdRuntime implements Runtime {
  readonly kind = 'systemd';
  private readonly ids: InstanceIds;

  constructor(
    private readonly manager: SystemdManager,
    ids?: InstanceIds,
    private readonly searchPath: string = process.env.PATH || DEFAULT_PATH,
    private readonly journal: JournalOutput = new JournalOutput(),
  ) {
    this.ids = ids ?? new InstanceIds();
  }

  async start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance> {
    const id = this.ids.next(app.name);
    const unit = `${id}.scope`;
    const instanceLog = log.child({ instance: id, unit });
    const { child, output } = await spawnInScope(app, sockets, this.searchPath, this.manager, this.journal, {
      unit,
      description: scopeDescription(app.name, id, specDigest(app)),
      slice: TENANT_SLICE,
      memoryMax: app.memoryBytes,
      tasksMax: app.pids,
      cpuWeight: app.cpuWeight,
    }, instanceLog);
    const oomWatch = ScopeOomWatch.open(child.pid, unit, instanceLog);
    return new SystemdInstance(id, unit, child, output, this.manager, instanceLog, oomWatch);
  }

  /** The tenant scopes a previous gateway left running (a restart, or a crash), each ready to adopt. */
  survivors(log: Logger): Promise<Survivor[]> {
    return findSurvivors(this.manager, this.ids, log, (id, unit, child, instanceLog) => new SystemdInstance(id, unit, child, Promise.resolve(), this.manager, instanceLog, ScopeOomWatch.open(child.pid, unit, instanceLog)));
  }

  async handingOver(): Promise<boolean> {
    return RESTART_JOBS.has((await this.manager.ownJobType()) ?? '');
  }

  close(): void {
    this.manager.close();
  }
}

export class SystemdInstance implements Instance {
  readonly runtime = 'systemd';
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private stopping?: Promise<ExitInfo>;
  private detached = false;
  private frozen = false;

  constructor(
    readonly id: string,
    private readonly unit: string,
    private readonly child: ChildHandle,
    output: Promise<unknown>,
    private readonly manager: SystemdManager,
    private readonly log: Logger,
    oomWatch?: ScopeOomWatch,
  ) {
    this.pid = child.pid;
    this.exited = child.exited.then(async (status) => {
      // Handed over to the next gateway: its exit is that gateway's to act on.
      if (this.detached) return status;
      const v1Oom = oomWatch?.settle(status); // first: systemd removes the cgroup as the scope empties
      // Whatever the app forked and left in its scope goes with it; then the unit is waited out of existence.
      await this.manager.kill(unit, constants.signals.SIGKILL).catch((err: unknown) => log.warn({ err }, 'failed to kill the rest of the scope, ignoring'));
      const gone = await this.manager.gone(unit).catch(() => false);
      if (!gone) {
        log.warn({ boundMs: DEFAULTS.internal.dbusUnitGoneMs }, 'scope still loaded after its processes exited, stopping it');
        await this.manager.stop(unit).catch((err: unknown) => log.warn({ err }, 'failed to stop the scope, ignoring'));
      }
      const oom = this.manager.takeResult(unit) === 'oom-kill' || ((await v1Oom) ?? false);
      await Promise.race([output, delay(DEFAULTS.internal.outputDrainMs)]);
      return oom ? { ...status, oom } : status;
    });
  }

  detach(): void {
    this.detached = true;
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= stopInSteps(
      {
        terminate: async () => {
          // A frozen scope would get the SIGTERM only at a thaw: thaw it so that it can shut down in its grace.
          if (this.frozen) await this.thaw().catch((err: unknown) => this.log.warn({ err }, 'failed to thaw the scope before stopping it'));
          return this.signalUnit('SIGTERM');
        },
        kill: () => this.signalUnit('SIGKILL'),
        exited: this.exited,
      },
      graceMs,
      this.log,
    );
    return this.stopping;
  }

  /** FreezeUnit on the scope: systemd's cgroup2 freezer, every process of it at once. */
  async freeze(): Promise<void> {
    await this.manager.setFrozen(this.unit, true);
    this.frozen = true;
  }

  async thaw(): Promise<void> {
    await this.manager.setFrozen(this.unit, false);
    this.frozen = false;
  }

  /**
   * The unit's MemoryCurrent and CPUUsageNSec. Where systemd's tree has no memory controller (a hybrid
   * host) MemoryCurrent does not exist: the main process's RSS stands in, as for a process instance.
   */
  async stats(): Promise<InstanceStats> {
    const unit = await this.manager.stats(this.unit);
    return unit.memoryBytes === null ? { ...unit, memoryBytes: rssBytes(this.pid) } : unit;
  }

  /** Through systemd (every process of the scope); the pidfd reaches the main process if the bus fails. */
  private async signalUnit(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    try {
      await this.manager.kill(this.unit, constants.signals[signal]);
    } catch (err) {
      this.log.warn({ err, signal }, 'KillUnit failed, signalling the main process directly');
      this.child.kill(signal);
    }
  }
}
