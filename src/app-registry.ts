import { connect } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { AppActivator, type ActivatorDeps } from './activator/app-activator.js';
import { AppDeps, type SharedDeps } from './app-deps.js';
import type { Recorder } from './activator/recorder.js';
import type { AppSpec, GatewayConfig } from './config/types.js';
import { Capacity, type EvictionReason } from './capacity/capacity.js';
import { hostMemory, type MemoryReader } from './capacity/memory.js';
import { DependencyGroups } from './dependency-groups.js';
import { AppSocketError } from './errors.js';
import { Router } from './front/router.js';
import type { Logger } from './log.js';
import type { Runtime } from './runtime/runtime.js';
import { AppSockets, type HeldSocket, type SocketKeeper, type SocketPlan } from './socket/app-sockets.js';
import { KernelCounters, type HeldListener } from './socket/kernel-counters.js';
import type { SockDiagState } from './socket/sock-diag-state.js';
import { SocketActivation } from './socket/socket-activation.js';
import type { SocketDir } from './upstream/app-socket.js';
import { fanOut } from './metrics/fan-out.js';

export interface RegistryDeps {
  readonly runtimeFor: (spec: AppSpec) => Runtime;
  readonly recorder: Recorder;
  readonly log: Logger;
  /** The gateway's one view of whether sock_diag answers, shared with the idle sampler. */
  readonly diag?: SockDiagState;
  /** Passed sockets to adopt, and the fd store that keeps the gateway's own (see src/systemd/). */
  readonly keeper?: SocketKeeper;
  /** Each app's activator hooks for requests served elsewhere (worker processes; see ActivatorDeps). */
  readonly hooks?: (app: string) => Pick<ActivatorDeps, 'confirmIdle' | 'generationFailed'>;
  /** The host's memory, for capacity.minAvailable; /proc by default. */
  readonly memory?: MemoryReader;
  /** Each eviction, for the metrics. */
  readonly evicted?: (app: string, reason: EvictionReason) => void;
}

interface Entry {
  readonly activator: AppActivator;
  readonly sockets: AppSockets;
  readonly activation: SocketActivation;
  readonly deps: AppDeps;
}

/** An app of the config whose own sockets could not be opened: not served, or (changed) on its previous config. */
export interface AppRefusal {
  readonly spec: AppSpec;
  readonly error: AppSocketError;
}

export interface ReloadSummary {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  /** Apps whose sockets could not be opened: not added, or (changed) left on their previous config. */
  readonly refused: string[];
}

/**
 * The configured apps: each one's sockets, activator and socket activation, and the router over them.
 * `apply` moves from one config to the next: new apps get their sockets at once, removed apps are drained
 * and their sockets closed, changed apps keep their instance and use the new spec (and sockets) from their
 * next start. An app whose sockets cannot be opened is refused alone; every other app is applied.
 */
export class AppRegistry {
  private entries = new Map<string, Entry>();
  /** The entries' activators, made once per apply: the sampler, the metrics and the heartbeat read them every second. */
  private activators: readonly AppActivator[] = [];
  private routes = new Router<AppActivator>([]);
  /** Applies run one at a time: each opens sockets asynchronously against the entries the previous one left. */
  private applying: Promise<unknown> = Promise.resolve();
  private readonly counters: KernelCounters;
  /** Apps of the current config whose sockets were refused at the last apply that tried them, with why. */
  private refusals = new Map<string, AppRefusal>();
  /** The dependsOn relation: it wakes, holds and fails apps together, and hears their events. */
  private readonly groups: DependencyGroups;
  private readonly recorder: Recorder;
  /** `capacity`: evicts to make room for starts, and while memory is short. */
  private readonly capacity: Capacity;
  private readonly shared: SharedDeps;

  /** `socketDir` is held and emptied of stale sockets by its owner (RuntimeDir), which outlives this registry. */
  constructor(
    private readonly socketDir: SocketDir,
    private readonly deps: RegistryDeps,
  ) {
    this.counters = new KernelCounters(deps.diag ? { diag: deps.diag } : {});
    this.groups = new DependencyGroups({
      app: (name) => this.entries.get(name)?.activator,
      apps: () => this.served,
      wake: (name) => this.entries.get(name)?.activation.wake() ?? false,
      log: deps.log.child({ component: 'dependencies' }),
    });
    this.capacity = new Capacity({
      apps: () => this.served,
      memory: deps.memory ?? hostMemory,
      evicted: (app, reason) => deps.evicted?.(app, reason),
      log: deps.log.child({ component: 'capacity' }),
    });
    this.recorder = fanOut(deps.recorder, this.groups, this.capacity);
    this.shared = { runtimeFor: deps.runtimeFor, recorder: this.recorder, log: deps.log, socketDir, groups: this.groups, capacity: this.capacity, hooks: deps.hooks };
  }

  get router(): Router<AppActivator> {
    return this.routes;
  }

  get(name: string): AppActivator | undefined {
    return this.entries.get(name)?.activator;
  }

  list(): AppActivator[] {
    return this.activators.slice();
  }

  /** The same as list(), not copied: for those who read it every second (sampler, metrics, heartbeat). */
  get served(): readonly AppActivator[] {
    return this.activators;
  }

  /** Where the app's HTTP app socket is on disk; undefined for an app without hosts. */
  socketPath(name: string): string | undefined {
    const http = this.entries.get(name)?.sockets.list.find((s) => s.address === 'http');
    return http?.bound.kind === 'unix' ? http.bound.path : undefined;
  }

  /** Wakes the stopped app for a request held until its instance accepts (SocketActivation.wakeHeld). */
  wakeHeld(name: string): boolean {
    const entry = this.entries.get(name);
    return entry?.activation.wakeHeld(() => connect(entry.deps.connectPath)) ?? false;
  }

  /** The sockets the app's next instance gets, in fd order (for the admin, and for sampling). */
  sockets(name: string): readonly HeldSocket[] {
    return this.entries.get(name)?.sockets.list ?? [];
  }

  /** The listening sockets the apps hold, whether they run or not: fds the front's connections cannot have. */
  get heldSockets(): number {
    let count = 0;
    for (const entry of this.entries.values()) count += entry.sockets.list.length;
    return count;
  }

  /** The refused apps of the current config, in config order (for the admin API). */
  refused(): AppRefusal[] {
    return [...this.refusals.values()];
  }

  /** Why the app's sockets were refused at the last apply that changed it; undefined when they were not. */
  refusal(name: string): AppRefusal | undefined {
    return this.refusals.get(name);
  }

  /** The app's sockets as KernelCounters takes them; the keys are `<app> <address>`, unique in the gateway. */
  listeners(name: string): HeldListener[] {
    return this.entries.get(name)?.sockets.listeners() ?? [];
  }

  /**
   * Switches to `config`. Sockets are all opened before anything changes. An app whose own sockets fail is
   * refused (logged, named in `refused`); a failure of an HTTP app socket fails the whole apply, leaving the
   * old apps serving untouched. Removed apps are drained in the background; `removal` settles after.
   */
  apply(config: GatewayConfig, drainMs: number): Promise<ReloadSummary & { removal: Promise<void> }> {
    const run = this.applying.then(() => this.applyNow(config, drainMs));
    this.applying = run.catch(() => {});
    return run;
  }

  private async applyNow(config: GatewayConfig, drainMs: number): Promise<ReloadSummary & { removal: Promise<void> }> {
    const summary: ReloadSummary = { added: [], removed: [], changed: [], refused: [] };
    const plans = new Map<string, { sockets: AppSockets; plan: SocketPlan }>();
    const refusals = new Map<string, AppRefusal>();
    try {
      for (const [name, spec] of Object.entries(config.apps)) {
        const old = this.entries.get(name);
        if (old && isDeepStrictEqual(old.activator.spec, spec)) continue;
        const sockets = old?.sockets ?? new AppSockets(name, this.socketDir, this.deps.keeper);
        try {
          plans.set(name, { sockets, plan: await sockets.prepare(spec) });
        } catch (err) {
          if (!(err instanceof AppSocketError)) throw err;
          this.deps.log.error({ err, app: name, address: err.address }, old ? `${err.message}; app ${name} keeps its previous config` : `${err.message}; app ${name} is not served`);
          summary.refused.push(name);
          refusals.set(name, { spec, error: err });
        }
      }
    } catch (err) {
      for (const { sockets, plan } of plans.values()) sockets.abort(plan);
      throw err;
    }
    const next = new Map<string, Entry>();
    for (const [name, spec] of Object.entries(config.apps)) {
      const old = this.entries.get(name);
      const planned = plans.get(name);
      if (old) {
        next.set(name, old);
        if (!planned) continue;
        old.sockets.commit(planned.plan);
        old.activator.updateSpec(spec);
        old.activation.refresh();
        summary.changed.push(name);
        continue;
      }
      if (!planned) continue;
      planned.sockets.commit(planned.plan);
      next.set(name, this.create(spec, planned.sockets));
      summary.added.push(name);
    }
    const gone = [...this.entries].filter(([name]) => !next.has(name));
    this.entries = next;
    this.activators = [...next.values()].map((e) => e.activator);
    this.refusals = refusals;
    this.routes = new Router([...next.values()].map((e) => [e.activator.spec.hosts, e.activator] as const));
    this.groups.refresh();
    this.capacity.configure(config.capacity);
    summary.removed.push(...gone.map(([name]) => name));
    const removal = Promise.all(gone.map(([, entry]) => this.retire(entry, 'removed', drainMs))).then(() => {});
    return { ...summary, removal };
  }

  /**
   * Drains and stops every app and closes every socket (gateway shutdown). With `keepSockets` the app
   * sockets stay in the fd store and keep their files, for the next gateway to adopt; with `handOver`
   * too, so do the instances that can outlive the gateway. Resolves with the ids of those left running.
   */
  async closeAll(drainMs: number, keepSockets = false, handOver = false): Promise<string[]> {
    await this.applying;
    this.capacity.close();
    const all = new Map(this.entries);
    this.entries = new Map();
    this.activators = [];
    this.routes = new Router([]);
    // Dependents first: their last requests may still need their dependencies. One deadline for all of them.
    const deadline = performance.now() + drainMs;
    const left = await this.groups.inStopOrder(
      [...all.keys()],
      (name) => all.get(name)?.activator.spec.dependsOn ?? [],
      (name) => this.retire(all.get(name)!, 'shutdown', Math.max(0, deadline - performance.now()), keepSockets, keepSockets && handOver),
    );
    return left.filter((id): id is string => id !== undefined);
  }

  private create(spec: AppSpec, sockets: AppSockets): Entry {
    const deps = new AppDeps(spec.name, this.shared, sockets);
    const activator = new AppActivator(spec, deps);
    for (const s of sockets.list) if (s.address !== 'http') deps.log.info({ address: s.address, bound: s.bound, name: s.name }, 'app socket listening');
    return { activator, sockets, activation: new SocketActivation(activator, sockets, this.counters, deps), deps };
  }

  private async retire(entry: Entry, reason: 'removed' | 'shutdown', drainMs: number, keepSockets = false, handOver = false): Promise<string | undefined> {
    // Not watched from now on: a connection arriving meanwhile must not try to wake an app on its way out.
    entry.activation.close();
    const id = entry.activator.instance?.id;
    const left = await entry.activator.close(reason, drainMs, handOver);
    entry.sockets.closeAll(keepSockets);
    return left ? id : undefined;
  }
}
