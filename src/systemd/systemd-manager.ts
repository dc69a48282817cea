import { DbusCallError } from '../dbus-errors.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import { SystemBus, Variant, type BusSignal } from './bus.js';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const SCOPE = 'org.freedesktop.systemd1.Scope';
const UNIT = 'org.freedesktop.systemd1.Unit';
const JOB = 'org.freedesktop.systemd1.Job';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
const NO_SUCH_UNIT = 'org.freedesktop.systemd1.NoSuchUnit';
/** systemd's own `UINT64_MAX`: a property it does not know (no memory accounting in this cgroup). */
const UNSET = 2n ** 64n - 1n;

/** A transient scope around a process that already runs. */
export interface ScopeSpec {
  readonly unit: string;
  readonly description: string;
  readonly slice: string;
  readonly pid: number;
  readonly memoryMax?: number;
  readonly tasksMax?: number;
  readonly cpuWeight?: number;
}

/** A loaded unit as ListUnitsByPatterns lists it. */
export interface ListedUnit {
  readonly name: string;
  readonly description: string;
  readonly activeState: string;
}

export interface ScopeStats {
  readonly memoryBytes: number | null;
  readonly cpuNs: number | null;
}

/**
 * systemd's Manager over the system bus, as much of it as the systemd runtime uses. Jobs are awaited
 * through JobRemoved (a bounded wait), which may arrive before the reply that names the job: results are
 * kept until claimed. A scope's `Result` is learnt from PropertiesChanged as it happens, because a failed
 * scope is collected at once (CollectMode=inactive-or-failed) and cannot be asked afterwards.
 */
export class SystemdManager {
  private readonly jobResults = new Map<string, string>();
  private readonly jobWaiters = new Map<string, (result: string) => void>();
  private readonly removedWaiters = new Map<string, Set<() => void>>();
  private readonly watched = new Map<string, string>();
  private readonly results = new Map<string, string>();

  private constructor(private readonly bus: SystemBus) {
    bus.onSignal((signal) => this.dispatch(signal));
  }

  /** Connects and checks that systemd answers; rejects with the reason as a plain message. */
  static async connect(log: Logger): Promise<SystemdManager> {
    const bus = await SystemBus.open(log, [subscribe]);
    return new SystemdManager(bus);
  }

  close(): void {
    this.bus.close();
  }

  async startScope(spec: ScopeSpec): Promise<void> {
    const props: [string, Variant][] = [
      ['Description', new Variant('s', spec.description)],
      ['Slice', new Variant('s', spec.slice)],
      ['PIDs', new Variant('au', [spec.pid])],
      ['CollectMode', new Variant('s', 'inactive-or-failed')],
    ];
    if (spec.memoryMax !== undefined) {
      props.push(['MemoryMax', new Variant('t', BigInt(spec.memoryMax))], ['MemorySwapMax', new Variant('t', 0n)]);
    }
    if (spec.tasksMax !== undefined) props.push(['TasksMax', new Variant('t', BigInt(spec.tasksMax))]);
    if (spec.cpuWeight !== undefined) props.push(['CPUWeight', new Variant('t', BigInt(spec.cpuWeight))]);
    this.watch(spec.unit);
    const [job] = await this.manager('StartTransientUnit', 'ssa(sv)a(sa(sv))', [spec.unit, 'fail', props, []]);
    await this.job('StartTransientUnit', String(job));
  }

  /** Sends `signal` to every process of the unit; a unit already gone is not an error. */
  async kill(unit: string, signal: number): Promise<void> {
    try {
      await this.manager('KillUnit', 'ssi', [unit, 'all', signal]);
    } catch (err) {
      if (!(err instanceof DbusCallError && err.dbusName === NO_SUCH_UNIT)) throw err;
    }
  }

  /**
   * FreezeUnit or ThawUnit: systemd answers once the unit's cgroup has reached the state (it holds the
   * reply until then), so a resolved freeze is a frozen instance. Rejects where systemd cannot freeze (no
   * cgroup2 freezer: a hybrid or legacy host says NotSupported) and for a unit that is gone.
   */
  async setFrozen(unit: string, frozen: boolean): Promise<void> {
    await this.manager(frozen ? 'FreezeUnit' : 'ThawUnit', 's', [unit]);
  }

  /** StopUnit and its job; a unit already gone is not an error. */
  async stop(unit: string): Promise<void> {
    let job: unknown;
    try {
      [job] = await this.manager('StopUnit', 'ss', [unit, 'replace']);
    } catch (err) {
      if (err instanceof DbusCallError && err.dbusName === NO_SUCH_UNIT) return;
      throw err;
    }
    await this.job('StopUnit', String(job));
  }

  /** Resolves true once the unit is unloaded (UnitRemoved, or GetUnit says it does not exist), false past `ms`. */
  async gone(unit: string, ms = DEFAULTS.internal.dbusUnitGoneMs): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    let done: (() => void) | undefined;
    const removed = new Promise<boolean>((resolve) => {
      done = () => resolve(true);
      const set = this.removedWaiters.get(unit) ?? new Set();
      set.add(done);
      this.removedWaiters.set(unit, set);
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      if ((await this.unitPath(unit)) === undefined) return true;
      return await removed;
    } finally {
      clearTimeout(timer);
      this.removedWaiters.get(unit)?.delete(done!);
      if (this.removedWaiters.get(unit)?.size === 0) this.removedWaiters.delete(unit);
    }
  }

  /** The scope's Result as last announced (`oom-kill`, `success`, ...), once; undefined if none came. */
  takeResult(unit: string): string | undefined {
    const result = this.results.get(unit);
    this.results.delete(unit);
    this.watched.delete(objectPath(unit));
    return result;
  }

  async stats(unit: string): Promise<ScopeStats> {
    const path = await this.unitPath(unit);
    if (path === undefined) return { memoryBytes: null, cpuNs: null };
    const [memory, cpu] = await Promise.all(['MemoryCurrent', 'CPUUsageNSec'].map((p) => this.property(path, SCOPE, p)));
    return { memoryBytes: counter(memory), cpuNs: counter(cpu) };
  }

  /** The loaded units whose names match `pattern` (a glob, as `systemctl list-units` takes). */
  async listUnits(pattern: string): Promise<ListedUnit[]> {
    const [units] = await this.manager('ListUnitsByPatterns', 'asas', [[], [pattern]]);
    return (units as unknown[][]).map(([name, description, , activeState]) => ({ name: String(name), description: String(description), activeState: String(activeState) }));
  }

  /** The pids in the unit's cgroup (its whole subtree); none for a unit that is gone. */
  async processes(unit: string): Promise<number[]> {
    try {
      const [list] = await this.manager('GetUnitProcesses', 's', [unit]);
      return (list as unknown[][]).map(([, pid]) => Number(pid));
    } catch (err) {
      if (err instanceof DbusCallError && err.dbusName === NO_SUCH_UNIT) return [];
      throw err;
    }
  }

  /**
   * The type of the job queued for the unit this process runs in (`restart` while `systemctl restart`
   * stops it, `stop` while `systemctl stop` does); undefined when no job is queued.
   */
  async ownJobType(): Promise<string | undefined> {
    // GetUnitByPID(0) is the unit of the caller, which systemd learns from the bus, not from us.
    const [path] = await this.manager('GetUnitByPID', 'u', [0]);
    const job = await this.property(String(path), UNIT, 'Job');
    const [id, jobPath] = Array.isArray(job) ? job : [0, ''];
    if (Number(id) === 0) return undefined;
    return String(await this.property(String(jobPath), JOB, 'JobType'));
  }

  private async unitPath(unit: string): Promise<string | undefined> {
    try {
      const [path] = await this.manager('GetUnit', 's', [unit]);
      return String(path);
    } catch (err) {
      if (err instanceof DbusCallError && err.dbusName === NO_SUCH_UNIT) return undefined;
      throw err;
    }
  }

  private async property(path: string, iface: string, name: string): Promise<unknown> {
    const [value] = await this.bus.call({ destination: SYSTEMD, path, interface: PROPERTIES, member: 'Get', signature: 'ss', body: [iface, name] });
    return value instanceof Variant ? value.value : value;
  }

  private manager(member: string, signature: string, body: readonly unknown[]): Promise<unknown[]> {
    return this.bus.call({ destination: SYSTEMD, path: MANAGER_PATH, interface: MANAGER, member, signature, body });
  }

  private job(method: string, path: string): Promise<void> {
    const bound = DEFAULTS.internal.dbusJobTimeoutMs;
    return new Promise((resolve, reject) => {
      const settle = (result: string): void => {
        clearTimeout(timer);
        this.jobWaiters.delete(path);
        if (result === 'done') resolve();
        else reject(new DbusCallError(method, 'org.freedesktop.systemd1.JobFailed', `job ${path} ended ${result}`));
      };
      const timer = setTimeout(() => settle(`timeout (no JobRemoved within ${bound} ms)`), bound);
      const early = this.jobResults.get(path);
      if (early !== undefined) {
        this.jobResults.delete(path);
        return settle(early);
      }
      this.jobWaiters.set(path, settle);
    });
  }

  /** From now on the unit's Result is kept for takeResult (a scope this gateway did not start, adopted). */
  watch(unit: string): string {
    const path = objectPath(unit);
    this.watched.set(path, unit);
    return path;
  }

  private dispatch(signal: BusSignal): void {
    if (signal.interface === MANAGER && signal.member === 'JobRemoved') {
      const [, job, , result] = signal.body;
      const path = String(job);
      const waiter = this.jobWaiters.get(path);
      if (waiter) waiter(String(result));
      else {
        // For a job of ours whose reply is still on its way; the oldest (others' jobs) make room.
        this.jobResults.set(path, String(result));
        if (this.jobResults.size > 256) this.jobResults.delete(this.jobResults.keys().next().value!);
      }
    } else if (signal.interface === MANAGER && signal.member === 'UnitRemoved') {
      for (const done of this.removedWaiters.get(String(signal.body[0])) ?? []) done();
    } else if (signal.interface === PROPERTIES && signal.member === 'PropertiesChanged') {
      const unit = this.watched.get(signal.path);
      const [iface, changed] = signal.body;
      if (unit === undefined || iface !== SCOPE || typeof changed !== 'object' || changed === null) return;
      const result = (changed as Record<string, unknown>).Result;
      if (result instanceof Variant && typeof result.value === 'string') this.results.set(unit, result.value);
    }
  }
}

/** Match rules and Subscribe: systemd sends its signals only while some client is subscribed. */
async function subscribe(bus: SystemBus): Promise<void> {
  const rules = [
    `type='signal',sender='${SYSTEMD}',interface='${MANAGER}'`,
    `type='signal',sender='${SYSTEMD}',interface='${PROPERTIES}',member='PropertiesChanged',path_namespace='${MANAGER_PATH}/unit'`,
  ];
  for (const rule of rules) {
    await bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [rule] });
  }
  await bus.call({ destination: SYSTEMD, path: MANAGER_PATH, interface: MANAGER, member: 'Subscribe' });
}

/** sd_bus_path_encode: every byte outside [A-Za-z0-9] as `_xx`. */
export function objectPath(unit: string): string {
  const escaped = [...Buffer.from(unit)].map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, '0')}`)).join('');
  return `${MANAGER_PATH}/unit/${escaped}`;
}

function counter(value: unknown): number | null {
  if (typeof value !== 'bigint' && typeof value !== 'number') return null;
  return BigInt(value) === UNSET ? null : Number(value);
}
