import { AdminServer } from './admin/server.js';
import { AppRegistry, type ReloadSummary } from './app-registry.js';
import type { AppActivator } from './activator/app-activator.js';
import type { Recorder } from './activator/recorder.js';
import type { AppSpec, GatewayConfig, ListenAddress } from './config/types.js';
import { TrustedProxies } from './front/forwarded.js';
import { HttpListener } from './front/http-listener.js';
import { RequestHandler } from './front/request-handler.js';
import type { BoundAddress } from './listen.js';
import type { Logger } from './log.js';
import { fanOut } from './metrics/fan-out.js';
import { LogRecorder } from './metrics/log-recorder.js';
import { PromRecorder } from './metrics/prom.js';
import { FdBudget, openFileLimit } from './front/connection-cap.js';
import { heapTrim } from './heap-trim.js';
import { onOutputDropped } from './runtime/output.js';
import { createRuntimes, type Runtimes } from './runtime/runtimes.js';
import type { Runtime } from './runtime/runtime.js';
import { RuntimeDir } from './runtime-dir.js';
import { adoptSurvivors, handingOver } from './handover.js';
import { ActivitySampler, sampleTargets } from './socket/activity-sampler.js';
import { SockDiagState } from './socket/sock-diag-state.js';
import { DEFAULTS } from './defaults.js';
import { closeFd } from './native/index.js';
import type { WakegateError } from './errors.js';
import { prepareAdoption, type Adoption } from './systemd/adoption.js';
import { frontSocket } from './systemd/front-socket.js';
import { Heartbeat, statusLine } from './systemd/heartbeat.js';
import { NO_SERVICE, type SystemdService } from './systemd/systemd-service.js';
import type { MemoryReader } from './capacity/memory.js';
import { SharedFront } from './workers/shared-front.js';
import { WorkerPool } from './workers/worker-pool.js';

export interface GatewayOptions {
  readonly log: Logger;
  /** Defaults to the runtime the config names; tests may pass their own. */
  readonly runtimeFor?: (spec: AppSpec) => Runtime;
  /** Receives activator events besides the log and the metrics. */
  readonly recorder?: Recorder;
  /** Receives each finished request besides the metrics. */
  readonly onRequest?: (app: string, status: number, seconds: number) => void;
  /** The host's memory as capacity.minAvailable reads it; /proc by default (tests pass their own). */
  readonly memory?: MemoryReader;
  /** Passed sockets, notify socket and watchdog (src/systemd/); none by default. */
  readonly service?: SystemdService;
}

/** What a reload swaps; the front reads it on every request, so it exists before the front listens. */
interface Current {
  config: GatewayConfig;
  trusted: TrustedProxies;
}

/** What serves the front: the gateway's own HttpListener (workers: 1), or its worker processes. */
interface Front {
  listen(address: ListenAddress, fd?: number): Promise<BoundAddress>;
  close(graceMs: number): Promise<void>;
}

interface Parts {
  readonly registry: AppRegistry;
  readonly listener: Front;
  readonly workers: WorkerPool | undefined;
  readonly admin: AdminServer | undefined;
  readonly runtimes: Runtimes | undefined;
  readonly runtimeDir: RuntimeDir;
  readonly unsubscribe: () => void;
  readonly sampler: ActivitySampler;
  readonly service: SystemdService;
  readonly heartbeat: Heartbeat;
  readonly budget: FdBudget;
}

/** Wires the components for one config; holds no policy of its own. */
export class Gateway {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly current: Current,
    private readonly parts: Parts,
    readonly address: BoundAddress,
    readonly adminAddress: BoundAddress | undefined,
    private readonly log: Logger,
  ) {}

  static async start(config: GatewayConfig, options: GatewayOptions): Promise<Gateway> {
    // Locked before anything touches the directory (the oci runtime's clean-up, the app sockets), so that
    // a second gateway on it refuses having changed nothing.
    // Passed sockets are matched before anything is bound, so that a mismatch refuses start-up unchanged.
    const adoption = await prepareAdoption(options.service ?? NO_SERVICE, config, options.log);
    const runtimeDir = RuntimeDir.open(config.runtimeDir, config.socketGroup, adoption.keepFiles);
    return Gateway.wire(config, options, runtimeDir, adoption).catch((err: unknown) => {
      runtimeDir.close();
      throw err;
    });
  }

  private static async wire(config: GatewayConfig, options: GatewayOptions, runtimeDir: RuntimeDir, adoption: Adoption): Promise<Gateway> {
    const { log } = options;
    const service = options.service ?? NO_SERVICE;
    const current: Current = { config, trusted: new TrustedProxies(config.trustedProxies) };
    const runtimes = options.runtimeFor ? undefined : await createRuntimes(config, log.child({ component: 'runtime' }));
    // With workers, the primary serves no front traffic: its activators are the workers' (src/workers/).
    let workers: WorkerPool | undefined;
    const fronts = config.workers > 1 ? { live: () => workers?.live ?? 0, tallies: () => workers?.tallies() ?? [] } : undefined;
    // The metrics read the apps at scrape time; the registry exists by the first scrape.
    const metrics: PromRecorder = new PromRecorder((): readonly AppActivator[] => registry.served, fronts);
    // The front exists only once the apps do; until then a changed cap has nothing to apply to.
    let applyCap = (_cap: number): void => {};
    const budget = new FdBudget(openFileLimit(), (cap) => applyCap(cap));
    const recorders: Recorder[] = [new LogRecorder(log.child({ component: 'activator' })), metrics, budget, ...(options.recorder ? [options.recorder] : [])];
    const diag = new SockDiagState(({ family, errno, error }) =>
      log.warn({ family, errno, err: error }, `sock_diag refused (${errno}): socket-mode use is read from /proc/net from now on, without byte counts (see Kernel counters)`),
    );
    const registry: AppRegistry = new AppRegistry(runtimeDir.apps, {
      runtimeFor: options.runtimeFor ?? runtimes!.runtimeFor,
      recorder: fanOut(...recorders),
      log,
      diag,
      evicted: (app, reason) => metrics.evicted(app, reason),
      ...(options.memory && { memory: options.memory }),
      ...(adoption.keeper && { keeper: adoption.keeper }),
      ...(fronts && {
        hooks: (app: string) => ({
          confirmIdle: () => workers?.confirmIdle(app) ?? Promise.resolve(true),
          generationFailed: (generation: number, failure: WakegateError) => workers?.generationFailed(app, generation, failure),
        }),
      }),
    });
    try {
      await registry.apply(config, config.shutdownTimeoutMs);
      // Before the front serves: a request for an app that still runs must reach it, not start another.
      if (runtimes) await adoptSurvivors(runtimes.all, registry, runtimes.runtimeFor, log.child({ component: 'handover' }));
    } catch (err) {
      await registry.closeAll(0);
      throw err;
    } finally {
      // Passed for apps that were refused: they stay in the store for a later start, not in this process.
      for (const fd of adoption.keeper?.untaken() ?? []) closeFd(fd);
    }
    // Everything the front and the admin read is wired before either listens: a request may come at once.
    budget.setSockets(registry.heldSockets);
    const guard = { maxConnections: budget.maxConnections, refused: (reason: string, count: number) => metrics.connectionsRefused('front', reason, count) };
    let listener: Front;
    if (fronts) {
      workers = new WorkerPool({
        count: config.workers,
        appsFd: runtimeDir.appsFd,
        apps: registry,
        config: () => current.config,
        log,
        restarted: () => metrics.workerRestarted(),
        refused: (reason, count) => metrics.connectionsRefused('front', reason, count),
      });
      listener = new SharedFront(workers);
    } else {
      const handler = new RequestHandler({
        router: () => registry.router,
        trusted: () => current.trusted,
        log: log.child({ component: 'front' }),
        logRequests: () => current.config.log.requests,
        recordRequest: (app, status, seconds) => {
          metrics.request(app, status, seconds);
          options.onRequest?.(app, status, seconds);
        },
        sendTimeoutMs: config.limits.sendTimeoutMs,
        navigations: { wakeHeld: (app) => registry.wakeHeld(app), app: (name) => registry.get(name) },
      });
      const front = new HttpListener(handler, log.child({ component: 'front' }), config.limits, guard);
      applyCap = (cap) => {
        front.setMaxConnections(cap);
        log.debug({ maxConnections: cap }, 'front connection cap changed');
      };
      listener = front;
    }
    const admin = config.admin
      ? new AdminServer({
          apps: registry,
          metrics: async () => {
            await workers?.collect();
            heapTrim.soon();
            return { contentType: metrics.registry.contentType, text: await metrics.text() };
          },
          drainMs: () => current.config.shutdownTimeoutMs,
          token: config.admin.token,
          log: log.child({ component: 'admin' }),
        })
      : undefined;
    const unsubscribe = onOutputDropped((app, lines) => metrics.outputDropped(app, lines));
    const sampler = new ActivitySampler(
      () => sampleTargets(registry.served, (name) => registry.sockets(name)),
      config.sampleIntervalMs,
      (err) => log.warn({ err }, 'cannot read the kernel counters of socket-mode apps; they count as busy until it works again'),
      Date.now,
      diag,
    );
    sampler.start();
    let address: BoundAddress;
    let adminAddress: BoundAddress | undefined;
    try {
      address = await listener.listen(config.listen.http, await frontSocket('http', config.listen.http, adoption.plan.http, service.notifier));
      adminAddress = admin && config.admin ? await admin.listen(config.admin.listen, await frontSocket('admin', config.admin.listen, adoption.plan.admin, service.notifier)) : undefined;
    } catch (err) {
      unsubscribe();
      await Promise.all([listener.close(0), admin?.close(), sampler.close(), registry.closeAll(0)]);
      throw err;
    }
    const heartbeat = new Heartbeat(service.notifier, () => statusLine(registry.served.map((a) => a.state)), DEFAULTS.internal.statusIntervalMs, service.watchdogMs);
    const gateway = new Gateway(current, { registry, listener, workers, admin, runtimes, runtimeDir, unsubscribe, sampler, service, heartbeat, budget }, address, adminAddress, log);
    log.info({ address, apps: Object.keys(config.apps).length, runtimeDir: config.runtimeDir, maxConnections: guard.maxConnections, workers: config.workers }, 'wakegate listening');
    if (adminAddress) log.info({ address: adminAddress, token: config.admin?.token !== undefined }, 'admin listening');
    service.notifier.ready();
    heapTrim.soon();
    heartbeat.start();
    return gateway;
  }

  get shuttingDown(): boolean {
    return this.closing !== undefined;
  }

  get apps(): AppRegistry {
    return this.parts.registry;
  }

  /** The socket-mode idle sampler (tests wait on its samples). */
  get sampler(): ActivitySampler {
    return this.parts.sampler;
  }

  /**
   * Applies a new config (the caller has validated it). The listen addresses, runtimeDir, the OCI runtime
   * and the front's limits cannot change while running; a change to them is reported and ignored until the next start.
   */
  async reload(config: GatewayConfig): Promise<(ReloadSummary & { removal: Promise<void> }) | undefined> {
    // Apps a reload would add could start while their sockets are being removed: a shutdown is final.
    if (this.closing) {
      this.log.warn('reload refused: the gateway is shutting down');
      return undefined;
    }
    for (const key of ['listen', 'runtimeDir', 'socketGroup', 'admin', 'oci', 'limits', 'workers'] as const) {
      if (JSON.stringify(config[key]) !== JSON.stringify(this.current.config[key])) {
        this.log.warn({ key }, `${key} changed; it takes effect only after a restart, ignoring`);
      }
    }
    const result = await this.parts.registry.apply(config, config.shutdownTimeoutMs);
    this.current.config = config;
    this.current.trusted = new TrustedProxies(config.trustedProxies);
    this.parts.sampler.setInterval(config.sampleIntervalMs);
    this.parts.workers?.appsChanged();
    this.parts.budget.setSockets(this.parts.registry.heldSockets);
    this.log.info({ added: result.added, removed: result.removed, changed: result.changed, refused: result.refused }, 'config reloaded');
    this.parts.heartbeat.refresh();
    heapTrim.soon();
    return result;
  }

  /** Tells systemd a reload began (SIGHUP); `reloaded` tells it the gateway serves again. */
  reloading(): void {
    this.parts.service.notifier.reloading();
  }

  reloaded(): void {
    if (!this.closing) this.parts.service.notifier.ready();
  }

  /**
   * Stops accepting, lets in-flight requests finish within shutdownTimeout, then stops every instance: the
   * front first, so that a request on a kept-alive connection is still served (told `Connection: close`)
   * rather than refused by an app already on its way out. Under systemd the sockets' queues live on in the
   * fd store (or the socket unit), and the app sockets keep their files, for the next gateway.
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      const grace = this.current.config.shutdownTimeoutMs;
      const { notifier } = this.parts.service;
      notifier.stopping();
      this.log.info({ graceMs: grace }, 'shutting down');
      const started = performance.now();
      await Promise.all([this.parts.listener.close(grace), this.parts.sampler.close()]);
      const left = Math.max(0, grace - (performance.now() - started));
      // Only a restart with the sockets kept (systemd's fd store) can hand instances over: they hold those sockets.
      const handOver = notifier.active && this.parts.runtimes !== undefined && (await handingOver(this.parts.runtimes.all, this.log));
      const running = await this.parts.registry.closeAll(left, notifier.active, handOver);
      if (running.length > 0) this.log.info({ instances: running }, `restarting: ${running.length} instances left running for the next gateway to adopt`);
      this.parts.heartbeat.close();
      await this.parts.admin?.close();
      this.parts.runtimes?.close();
      this.parts.unsubscribe();
      this.parts.runtimeDir.close();
      this.log.info('shutdown complete');
    })();
    return this.closing;
  }
}

