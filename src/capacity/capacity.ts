import type { Room } from '../activator/activator-deps.js';
import type { AppState, ColdStartEvent, ExitEvent, ExitReason, Recorder } from '../activator/recorder.js';
import type { CapacitySpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { CapacityError, type WakegateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { InstanceStats } from '../runtime/runtime.js';
import type { MemoryReader } from './memory.js';

/** Why an instance was evicted: a metric label. */
export type EvictionReason = 'max_running' | 'memory';

/** What eviction needs of an app's activator; AppActivator has this shape. */
export interface Tenant {
  readonly name: string;
  readonly state: AppState;
  /** Requests in flight here; those of other processes are asked of confirmUnused. */
  readonly inflightHere: number;
  readonly queued: number;
  readonly upgradedConnections: number;
  /** Connections open on its own (socket-mode) sockets, which the gateway cannot see the bytes of. */
  readonly socketConnections: number;
  readonly heldBy: readonly string[];
  readonly instance: { stats(): Promise<InstanceStats> } | undefined;
  /** Nothing holds it elsewhere either (worker processes); a true answer must be acted on at once. */
  confirmUnused(): Promise<boolean>;
  stopInstance(reason: ExitReason, failure?: WakegateError): Promise<void>;
}

export interface CapacityDeps {
  readonly apps: () => Iterable<Tenant>;
  readonly memory: MemoryReader;
  /** Counted once per eviction (wakegate_evictions_total). */
  readonly evicted: (app: string, reason: EvictionReason) => void;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * `capacity` at work: before a start, and every checkInterval while memory is short, it stops the
 * least-recently-used instances that nothing uses (no request in flight or waiting, no upgraded or open
 * socket-mode connection, no running dependent). A start waits for an evicted instance to be gone, so that
 * no more than `maxRunning` instances ever exist (starting, running or stopping all count). It reads the apps' events as
 * a Recorder: their last use is their last change of load.
 */
export class Capacity implements Recorder {
  private spec: CapacitySpec = {};
  private readonly lastUsed = new Map<string, number>();
  /** Settles at the next instance gone; the starts waiting for room look again then. */
  private gone: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Apps whose start waits for room: each has one eviction under way for it, not one per request. */
  private readonly waiting = new Set<string>();
  /** Evicted, their memory being read before their stop: they count as stopping and are not picked again. */
  private readonly evicting = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: CapacityDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Applies the config's `capacity` (at load and at each reload); the memory check runs only with minAvailable. */
  configure(spec: CapacitySpec | undefined): void {
    this.spec = spec ?? {};
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.spec.minAvailableBytes === undefined) return;
    this.timer = setInterval(() => this.check(), DEFAULTS.internal.capacityCheckIntervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The start hook of the named app's activator. */
  for(name: string): Room {
    return { claim: () => this.claim(name) };
  }

  /** Memory is short: below minAvailable, or (PSI) tasks stalled on memory past the pressure threshold. */
  short(): boolean {
    const min = this.spec.minAvailableBytes;
    if (min === undefined) return false;
    const m = this.deps.memory();
    return m.availableBytes < min || (m.pressureAvg10 ?? 0) >= DEFAULTS.internal.capacityPressureAvg10;
  }

  /**
   * Before a start of `name`: undefined when it may start now; a promise when it must wait for an evicted
   * instance to be gone (then ask again); a CapacityError when nothing can be evicted.
   */
  claim(name: string): Promise<void> | WakegateError | undefined {
    if (this.spec.maxRunning === undefined && this.spec.minAvailableBytes === undefined) return undefined;
    const apps = [...this.deps.apps()];
    const live = apps.filter((a) => a.state !== 'stopped' && a.name !== name);
    const stopping = live.filter((a) => a.state === 'stopping' || this.evicting.has(a.name)).length;
    const max = this.spec.maxRunning;
    const full = max !== undefined && live.length >= max;
    const short = this.short();
    if (!full && !short) return undefined;
    if (this.waiting.has(name)) return this.nextGone();
    // Each start waiting already has a stop under way for it: this one needs one more of its own.
    const victim = stopping > this.waiting.size ? undefined : this.victim(live);
    if (victim) {
      this.evict(victim, full ? 'max_running' : 'memory');
    } else if (stopping <= this.waiting.size) {
      const why = full ? `${live.length} instances run (capacity.maxRunning is ${max})` : 'memory is short (capacity.minAvailable)';
      return new CapacityError(name, `${why} and no instance is quiet enough to evict (each has requests in flight, waiting, upgraded or socket-mode connections, or running dependents)`, DEFAULTS.internal.capacityRetryAfterMs);
    }
    this.waiting.add(name);
    return this.nextGone();
  }

  /** The periodic check: while memory is short, one least-recently-used instance is evicted per interval. */
  check(): void {
    if (!this.short()) return;
    const victim = this.victim([...this.deps.apps()]);
    if (victim) this.evict(victim, 'memory');
  }

  stateChanged(app: string, _from: AppState, to: AppState): void {
    if (to === 'starting') {
      this.lastUsed.set(app, this.now());
      this.waiting.delete(app);
    }
    if (to !== 'stopped') return;
    this.evicting.delete(app);
    // Only live instances are ranked, and a start sets its time anew: a stopped app (a removed one too) needs none.
    this.lastUsed.delete(app);
    this.wakeWaiters();
  }

  /** The starts waiting for room look again. */
  private wakeWaiters(): void {
    const gone = this.gone;
    this.gone = undefined;
    this.waiting.clear();
    gone?.resolve();
  }

  load(app: string): void {
    this.lastUsed.set(app, this.now());
  }

  coldStart(_app: string, _e: ColdStartEvent): void {}

  instanceExited(_app: string, _e: ExitEvent): void {}

  /** The least recently used instance nothing uses now, frozen ones first (quiet for freezeAfter already, and no CPU to lose). */
  private victim(apps: readonly Tenant[]): Tenant | undefined {
    const idle = apps.filter((a) => !this.evicting.has(a.name) && this.unused(a));
    const warm = (a: Tenant): number => (a.state === 'frozen' ? 0 : 1);
    return idle.sort((a, b) => warm(a) - warm(b) || (this.lastUsed.get(a.name) ?? 0) - (this.lastUsed.get(b.name) ?? 0))[0];
  }

  private unused(a: Tenant): boolean {
    return (a.state === 'running' || a.state === 'frozen') && a.inflightHere === 0 && a.queued === 0 && a.upgradedConnections === 0 && a.socketConnections === 0 && a.heldBy.length === 0;
  }

  /** Reads the memory the instance holds, then stops it, unless a request came meanwhile: it is never taken from one. */
  private evict(app: Tenant, reason: EvictionReason): void {
    this.evicting.add(app.name);
    const stats = app.instance?.stats().catch(() => undefined) ?? Promise.resolve(undefined);
    void stats
      .then(async (s) => {
        // Asked last: the stop must follow its verdict before any other task runs (see confirmIdle).
        if (!this.unused(app) || !(await app.confirmUnused()) || !this.unused(app)) {
          this.evicting.delete(app.name);
          this.wakeWaiters();
          return;
        }
        this.deps.evicted(app.name, reason);
        const freed = s?.memoryBytes ?? null;
        this.deps.log.info({ app: app.name, reason, freedBytes: freed }, `evicting ${app.name} (${reason}), freeing ${freed ?? 'an unknown number of'} bytes`);
        await app.stopInstance('evicted');
      })
      .catch((err: unknown) => {
        this.evicting.delete(app.name);
        this.wakeWaiters();
        this.deps.log.error({ err, app: app.name }, 'failed to evict app, ignoring');
      });
  }

  private nextGone(): Promise<void> {
    if (!this.gone) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.gone = { promise, resolve };
    }
    return this.gone.promise;
  }
}
