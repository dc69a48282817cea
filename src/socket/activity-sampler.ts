/**
 * Idle detection from outside the data path: every `sampleInterval`, one kernel sample over the listeners
 * of the RUNNING apps (nothing at all while every app sleeps), turned into `activity()` calls by the rule
 * in app-usage.ts. An instance that leaves its accept queue stuck for startTimeout is replaced.
 */
import type { AppState } from '../activator/recorder.js';
import type { InstanceStats } from '../runtime/runtime.js';
import { AppUsage } from './app-usage.js';
import { type HeldListener, KernelCounters, type ListenerCounters, ownSocketInodes } from './kernel-counters.js';
import { SockDiagState } from './sock-diag-state.js';

export interface ActivitySample {
  readonly connections: number;
  readonly busy: boolean;
}

/** What the sampler needs of an app; AppActivator has this shape. */
export interface SampledApp {
  readonly name: string;
  readonly state: AppState;
  readonly spec: { readonly busyCpu: number; readonly startTimeoutMs: number };
  readonly instance: { readonly id: string; stats(): Promise<InstanceStats> } | undefined;
  activity(sample: ActivitySample): void;
  /** Stops the running instance as `unresponsive` (counted for backoff). */
  replaceUnresponsive(): void;
}

export interface SampledListener {
  readonly kind: 'tcp' | 'unix';
  readonly inode: number;
  /** The HTTP app socket (apps with hosts): the gateway's own upstream pool connects to it. */
  readonly appSocket: boolean;
}

export interface SampledTarget {
  readonly app: SampledApp;
  readonly listeners: readonly SampledListener[];
}

/** What one sampler run cost and saw, for the bench and the tests. */
export interface SamplerStats {
  readonly samples: number;
  /** How many times the gateway's own socket inodes were listed again (about 1 µs per open fd). */
  readonly ownRefreshes: number;
}

export class ActivitySampler {
  private readonly counters: KernelCounters;
  /** A second sampler for re-counts of app sockets: a partial sample must not reset the first one's byte baselines. */
  private readonly recounter: KernelCounters;
  private readonly usage = new Map<string, AppUsage>();
  private own: ReadonlySet<number> = new Set();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private counts = { samples: 0, ownRefreshes: 0 };
  private waiters: Array<() => void> = [];
  /** The previous sample failed: the error was reported once, not at every interval. */
  private failing = false;

  /**
   * `onError` gets the first of a run of failed samples; meanwhile every running app counts as busy. `diag`
   * is the gateway's one view of whether sock_diag answers (shared with its other KernelCounters).
   */
  constructor(
    private readonly targets: () => Iterable<SampledTarget>,
    private intervalMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
    diag: SockDiagState = new SockDiagState(),
  ) {
    this.counters = new KernelCounters({ diag });
    this.recounter = new KernelCounters({ diag });
  }

  get stats(): SamplerStats {
    return { ...this.counts };
  }

  /** Resolves once the next sample has been applied to every app: an event to wait on instead of a sleep. */
  nextSample(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  start(): void {
    this.closed = false;
    this.schedule();
  }

  /** A reloaded sampleInterval applies from the next sample on. */
  setInterval(ms: number): void {
    if (ms === this.intervalMs) return;
    this.intervalMs = ms;
    if (this.timer) this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    for (const done of this.waiters.splice(0)) done();
  }

  /** One sample now (the timer calls it; tests may too). Never rejects: errors go to onError. */
  sampleNow(): Promise<void> {
    this.running ??= this.sample()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        for (const done of this.waiters.splice(0)) done();
      });
    return this.running;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    // A timeout chain, not an interval: a slow sample delays the next instead of piling up behind it.
    this.timer = setTimeout(() => void this.sampleNow().then(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  private async sample(): Promise<void> {
    const live = [...this.targets()].filter((t) => sampled(t.app.state) && t.app.instance !== undefined && t.listeners.length > 0);
    const names = new Set(live.map((t) => t.app.name));
    for (const name of this.usage.keys()) if (!names.has(name)) this.usage.delete(name);
    if (live.length === 0) return;
    this.counts.samples++;
    try {
      await this.sampleLive(live);
      this.failing = false;
    } catch (err) {
      // Unknown use is use: an app whose counters cannot be read must not be stopped under a client.
      for (const t of live) t.app.activity({ connections: this.usage.get(t.app.name)?.connections ?? 0, busy: true });
      if (!this.failing) this.onError(err);
      this.failing = true;
    }
  }

  private async sampleLive(live: readonly SampledTarget[]): Promise<void> {
    const held: Array<HeldListener & { appSocket: boolean }> = [];
    const keysOf = new Map<SampledTarget, string[]>();
    for (const t of live) {
      const keys = t.listeners.map((_l, i) => `${t.app.name}\0${i}`);
      t.listeners.forEach((l, i) => held.push({ key: keys[i]!, kind: l.kind, inode: l.inode, appSocket: l.appSocket }));
      keysOf.set(t, keys);
    }
    const counters = await this.counters.sample(held, { exclude: this.own });
    const recounted = await this.recountAppSockets(held, counters);
    // Rows from /proc/net/unix have no peers, so the gateway's own pool cannot be told from a foreign proxy
    // there: app sockets are left out of such a sample, and the front's own counting decides for HTTP apps.
    const noPeers = this.counters.sources.unix === 'proc' || (recounted && this.recounter.sources.unix === 'proc');
    const now = this.now();
    await Promise.all(live.map((t) => this.judge(t, keysOf.get(t)!, counters, now, noPeers)));
  }

  /**
   * Connections on an HTTP app socket may be the gateway's own pool, opened since its inodes were last
   * listed: list them again and recount those sockets, only then. The front counts those requests itself.
   */
  private async recountAppSockets(held: ReadonlyArray<HeldListener & { appSocket: boolean }>, counters: Map<string, ListenerCounters>): Promise<boolean> {
    const suspects = held.filter((l) => l.appSocket && (counters.get(l.key)?.connections ?? 0) > 0);
    if (suspects.length === 0) return false;
    this.own = ownSocketInodes();
    this.counts.ownRefreshes++;
    for (const [key, c] of await this.recounter.sample(suspects, { exclude: this.own })) counters.set(key, c);
    return true;
  }

  private async judge(t: SampledTarget, keys: readonly string[], counters: ReadonlyMap<string, ListenerCounters>, now: number, noPeers: boolean): Promise<void> {
    const { app } = t;
    const instance = app.instance;
    if (!instance || !sampled(app.state)) return;
    let usage = this.usage.get(app.name);
    if (usage?.instanceId !== instance.id) this.usage.set(app.name, (usage = new AppUsage(instance.id)));
    const found = keys
      .filter((_k, i) => !(noPeers && t.listeners[i]!.appSocket))
      .map((k) => counters.get(k))
      .filter((c): c is ListenerCounters => c !== undefined);
    const verdict = await usage.judge(found, {
      busyCpu: app.spec.busyCpu,
      intervalMs: this.intervalMs,
      now,
      readCpuNs: async () => (await instance.stats().catch(() => ({ cpuNs: null }))).cpuNs,
    });
    if (app.instance !== instance || !sampled(app.state)) return;
    if (verdict.stuckMs >= app.spec.startTimeoutMs) {
      this.usage.delete(app.name);
      app.replaceUnresponsive();
      return;
    }
    app.activity({ connections: verdict.connections, busy: verdict.busy });
  }
}

/** The sampler's view of a registry: each app with its sockets, the HTTP app socket (`http`) marked as such. */
/** Running instances, and frozen ones: a sample that finds a connection or use on a frozen one thaws it. */
function sampled(state: AppState): boolean {
  return state === 'running' || state === 'frozen';
}

export function sampleTargets(
  apps: Iterable<SampledApp>,
  socketsOf: (app: string) => ReadonlyArray<{ readonly kind: 'tcp' | 'unix'; readonly inode: number; readonly address: string; readonly fd: number }>,
): SampledTarget[] {
  const targets: SampledTarget[] = [];
  // Only what a sample reads: building a target for every stopped app made each interval O(configured apps).
  for (const app of apps) {
    if (!sampled(app.state) || app.instance === undefined) continue;
    targets.push({
      app,
      listeners: socketsOf(app.name)
        .filter((s) => s.fd >= 0)
        .map((s) => ({ kind: s.kind, inode: s.inode, appSocket: s.address === 'http' })),
    });
  }
  return targets;
}
