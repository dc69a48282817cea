import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppState, ColdStartEvent, ColdStartResult, ExitEvent, ExitReason, Recorder } from '../activator/recorder.js';
import type { InstanceStats } from '../runtime/runtime.js';
import { AppCounter, family, labelValue } from './app-series.js';
import { addRequests, AppRequests, REQUEST_BUCKETS, RequestTally, type RequestCounts } from './request-tally.js';

/** What the metrics read from each app at scrape time; AppActivator has this shape. */
export interface AppGauges {
  readonly name: string;
  readonly state: AppState;
  readonly inflight: number;
  readonly queued: number;
  /** Connections on the app's own sockets at the last activity sample (socket mode). */
  readonly connections: number;
  readonly instance: { stats(): Promise<InstanceStats> } | undefined;
  readonly spec: { readonly dependsOn?: readonly string[] };
  /** The dependents that hold the app up now (dependsOn). */
  readonly heldBy: readonly string[];
}

const STATES: readonly AppState[] = ['stopped', 'starting', 'running', 'frozen', 'stopping'];
// Cold starts run from a forked process (ms) to a slow JVM in a container (tens of s).
const COLD_START_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export { REQUEST_BUCKETS };

/**
 * The front processes (`workers`), as the metrics read them at scrape time. Their request tallies are
 * summed with the primary's own, so that Prometheus sees one gateway.
 */
export interface FrontProcesses {
  /** Processes serving the front now. */
  readonly live: () => number;
  /** Tallies to add to the primary's own (the workers' last ones, and those of workers that died). */
  readonly tallies: () => Iterable<{ readonly apps: Iterable<readonly [app: string, counts: RequestCounts]> }>;
}

/** The part of prom-client's histogram state that a scrape exports (lib/histogram.js), filled from a RequestTally. */
interface HistogramEntry {
  readonly labels: { readonly app?: string };
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * The Prometheus view. Events (cold starts, exits, requests) are counted as they happen; per-app state,
 * load and memory are read from the apps when scraped, so they cost nothing while nobody scrapes and
 * never keep series for apps a reload removed. Labels are app names, codes and fixed enums only.
 */
export class PromRecorder implements Recorder {
  readonly registry = new Registry();
  private readonly coldStarts = new AppCounter<ColdStartResult>('wakegate_cold_starts_total', 'Cold starts, by result (ok, failed, timeout).', 'result', 'ok');
  private readonly coldStartSeconds: Histogram<'app' | 'phase'>;
  private readonly requestsTotal: Counter<'app' | 'code'>;
  private readonly requestSeconds: Histogram<'app'>;
  private readonly exits = new AppCounter<ExitReason>('wakegate_instance_exits_total', 'Instance exits, by reason.', 'reason', 'idle');
  private readonly outputDrops: Counter<'app'>;
  private readonly refused: Counter<'listener' | 'reason'>;
  private readonly requests = new RequestTally(REQUEST_BUCKETS);
  private readonly workerRestarts: Counter;
  private readonly evictions: Counter<'app' | 'reason'>;

  /** `fronts`: absent, the front is this process alone. */
  constructor(
    private readonly apps: () => Iterable<AppGauges>,
    private readonly fronts?: FrontProcesses,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges *_total, which promtool rejects as counter-only; they add little.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
    this.coldStartSeconds = new Histogram({
      name: 'wakegate_cold_start_seconds',
      help: 'Cold start duration from the first request or connection: spawn (runtime start returned), first_byte (first response byte), accept (socket mode: the instance drained its accept queue).',
      labelNames: ['app', 'phase'],
      buckets: COLD_START_BUCKETS,
      registers,
    });
    // Requests are tallied in plain numbers (request-tally.ts) and handed over here, when scraped.
    this.requestsTotal = new Counter({
      name: 'wakegate_requests_total',
      help: 'Requests, by app and HTTP status (499: the client left first).',
      labelNames: ['app', 'code'],
      registers,
      collect: () => this.exportRequestCounts(),
    });
    this.requestSeconds = new Histogram({
      name: 'wakegate_request_duration_seconds',
      help: 'Request duration through the gateway.',
      labelNames: ['app'],
      buckets: [...REQUEST_BUCKETS],
      registers,
      collect: () => this.exportRequestDurations(),
    });
    this.outputDrops = new Counter({
      name: 'wakegate_output_lines_dropped_total',
      help: 'Lines of instance output (stdout, stderr) not logged because of the per-instance rate limit.',
      labelNames: ['app'],
      registers,
    });
    this.evictions = new Counter({
      name: 'wakegate_evictions_total',
      help: 'Instances stopped to make room (capacity): reason max_running or memory.',
      labelNames: ['app', 'reason'],
      registers,
    });
    this.refused = new Counter({
      name: 'wakegate_connections_refused_total',
      help: 'Connections closed at accept: limit (the connection cap sized from RLIMIT_NOFILE), EMFILE, ENFILE.',
      labelNames: ['listener', 'reason'],
      registers,
    });
    new Gauge({
      name: 'wakegate_workers',
      help: 'Processes serving the front listener now (workers; 1 when the gateway serves it itself).',
      registers,
      collect() {
        this.set(fronts ? fronts.live() : 1);
      },
    });
    this.workerRestarts = new Counter({
      name: 'wakegate_worker_restarts_total',
      help: 'Worker processes that died and were replaced.',
      registers,
    });
    new Gauge({
      name: 'wakegate_running_instances',
      help: 'Instances that exist now (starting, running or stopping).',
      registers,
      collect() {
        let running = 0;
        for (const app of apps()) if (app.instance) running += 1;
        this.set(running);
      },
    });
  }

  /**
   * The whole exposition: prom-client's registry, then the per-app families (app-series.ts), read from
   * the apps now, so removed apps disappear and nothing is kept between scrapes.
   */
  async text(): Promise<string> {
    const list = [...this.apps()];
    const families = [this.coldStarts.render(list), this.exits.render(list), ...gauges(list), await memory(list)];
    return `${await this.registry.metrics()}\n${families.join('\n\n')}\n`;
  }

  coldStart(app: string, e: ColdStartEvent): void {
    this.coldStarts.inc(app, e.result);
    if (e.spawnMs !== undefined) this.coldStartSeconds.observe({ app, phase: 'spawn' }, e.spawnMs / 1000);
    if (e.firstByteMs !== undefined) this.coldStartSeconds.observe({ app, phase: 'first_byte' }, e.firstByteMs / 1000);
    if (e.acceptMs !== undefined) this.coldStartSeconds.observe({ app, phase: 'accept' }, e.acceptMs / 1000);
  }

  instanceExited(app: string, e: ExitEvent): void {
    this.exits.inc(app, e.reason);
  }

  /** An instance was evicted (src/capacity/). */
  evicted(app: string, reason: string): void {
    this.evictions.inc({ app, reason });
  }

  /** One finished request; `app` is '' for requests no app was routed to (400, 404). */
  request(app: string, status: number, seconds: number): void {
    this.requests.add(app, status, seconds, app !== '');
  }

  workerRestarted(): void {
    this.workerRestarts.inc();
  }

  /** This process's tally, plus the workers' when there are workers. */
  private allRequests(): ReadonlyMap<string, AppRequests> {
    if (!this.fronts) return this.requests.apps;
    const sum = new Map<string, AppRequests>();
    for (const tally of [this.requests, ...this.fronts.tallies()]) {
      for (const [app, t] of tally.apps) {
        let into = sum.get(app);
        if (!into) sum.set(app, (into = new AppRequests(REQUEST_BUCKETS)));
        addRequests(into, t);
      }
    }
    return sum;
  }

  /** The totals so far, set afresh: the tally is cumulative, like the counter it fills. */
  private exportRequestCounts(): void {
    this.requestsTotal.reset();
    for (const [app, tally] of this.allRequests()) {
      for (const [status, n] of tally.codes) this.requestsTotal.inc({ app, code: String(status === 0 ? 499 : status) }, n);
    }
  }

  /**
   * prom-client has no call that sets a histogram's buckets; `zero` creates each app's series through its
   * API, and the entries it made are then filled with the tally's counts (its export accumulates them).
   */
  private exportRequestDurations(): void {
    const histogram = this.requestSeconds;
    histogram.reset();
    const observed = [...this.allRequests()].filter(([, tally]) => tally.count > 0);
    for (const [app] of observed) histogram.zero({ app });
    const entries = new Map<string | undefined, HistogramEntry>();
    for (const entry of Object.values((histogram as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap)) entries.set(entry.labels.app, entry);
    for (const [app, tally] of observed) {
      const entry = entries.get(app);
      if (!entry) continue;
      REQUEST_BUCKETS.forEach((bound, i) => (entry.bucketValues[bound] = tally.buckets[i]!));
      entry.sum = tally.sum;
      entry.count = tally.count;
    }
  }

  outputDropped(app: string, lines: number): void {
    this.outputDrops.inc({ app }, lines);
  }

  connectionsRefused(listener: string, reason: string, count: number): void {
    this.refused.inc({ listener, reason }, count);
  }

  stateChanged(): void {
    // Read from the apps at scrape time.
  }

  load(): void {
    // Read from the apps at scrape time.
  }
}

/** The gauges every app has, one line per app (and state), from what the apps say now. */
function gauges(list: readonly AppGauges[]): string[] {
  const state: string[] = [];
  const inflight: string[] = [];
  const queued: string[] = [];
  const connections: string[] = [];
  const dependency: string[] = [];
  const held: string[] = [];
  for (const app of list) {
    const name = labelValue(app.name);
    for (const s of STATES) state.push(`wakegate_app_state{app="${name}",state="${s}"} ${s === app.state ? 1 : 0}`);
    inflight.push(`wakegate_inflight_requests{app="${name}"} ${app.inflight}`);
    queued.push(`wakegate_queued_requests{app="${name}"} ${app.queued}`);
    connections.push(`wakegate_app_connections{app="${name}"} ${app.connections}`);
    for (const d of app.spec.dependsOn ?? []) dependency.push(`wakegate_app_dependency{app="${name}",dependency="${labelValue(d)}"} 1`);
    for (const d of app.heldBy) held.push(`wakegate_app_held{app="${name}",dependent="${labelValue(d)}"} 1`);
  }
  return [
    family('wakegate_app_state', 'Current state of each app: 1 for the state it is in, 0 for the others.', 'gauge', state),
    family('wakegate_inflight_requests', 'Requests being served by the app now.', 'gauge', inflight),
    family('wakegate_queued_requests', 'Requests waiting for the app to start.', 'gauge', queued),
    family('wakegate_app_connections', "Connections on the app's own sockets (socket mode), from the last kernel sample.", 'gauge', connections),
    family('wakegate_app_dependency', 'The dependsOn relation: 1 for each app and each app it depends on.', 'gauge', dependency),
    family('wakegate_app_held', 'Why an app is awake besides its own use: 1 for each app and each dependent that runs now and so holds it up.', 'gauge', held),
  ];
}

/** Memory of the instances that exist, read from their runtimes; one that cannot be read is left out. */
async function memory(list: readonly AppGauges[]): Promise<string> {
  const running = list.filter((app) => app.instance !== undefined);
  const stats = await Promise.all(running.map((app) => app.instance!.stats().catch(() => ({ memoryBytes: null }))));
  const samples: string[] = [];
  running.forEach((app, i) => {
    const bytes = stats[i]!.memoryBytes;
    if (bytes !== null) samples.push(`wakegate_instance_memory_bytes{app="${labelValue(app.name)}"} ${bytes}`);
  });
  return family('wakegate_instance_memory_bytes', 'Memory of each running instance (container cgroup, or process RSS).', 'gauge', samples);
}
