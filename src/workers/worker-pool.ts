import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AppActivator } from '../activator/app-activator.js';
import type { GatewayConfig } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { UnavailableError, type WakegateError } from '../errors.js';
import type { BoundAddress } from '../listen.js';
import type { Logger } from '../log.js';
import { REQUEST_BUCKETS, RequestTally, type RequestCounts } from '../metrics/request-tally.js';
import { mirrorOf } from './app-mirror.js';
import { wakeForWorker } from './held-wake.js';
import { toWire, type AppMirror, type FromWorker, type ToWorker } from './protocol.js';
import { mergeInto } from './tally-merge.js';
import { WorkerSlot } from './worker-slot.js';
import { WorkerWatchdog } from './worker-watchdog.js';

const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** The apps as the pool needs them; AppRegistry is this. */
export interface PoolApps {
  list(): AppActivator[];
  get(name: string): AppActivator | undefined;
  /** Wakes the stopped app without a request, for a worker's browser navigation (the waiting page). */
  wakeHeld(name: string): boolean;
}

export interface WorkerPoolOptions {
  readonly count: number;
  /** The held apps directory, inherited by each worker as fd 5 (the front socket, given to start, is fd 4). */
  readonly appsFd: number;
  readonly apps: PoolApps;
  readonly config: () => GatewayConfig;
  readonly log: Logger;
  readonly restarted: () => void;
  /** Connections the workers' fronts refused, as they are learnt (summed per reason). */
  readonly refused: (reason: string, count: number) => void;
}

/**
 * The primary's side of `workers: N`: forks N worker processes on the one front socket and keeps them
 * fed with app state; runs their acquires on the real activators (so single-flight start, backoff and
 * queueLimit stay the primary's), holds each app's generation for every worker busy on it, asks them
 * before an idle stop, sums their request tallies at scrape time, replaces one that dies (with the crash
 * backoff, so a crash loop is no fork bomb), and stops them first at shutdown.
 */
export class WorkerPool {
  private readonly slots: WorkerSlot[];
  private readonly subscriptions = new Map<AppActivator, () => void>();
  /** Apps whose idle check is under way: their acquires wait for the verdict (see confirmIdle). */
  private readonly confirming = new Map<string, Promise<void>>();
  /** The last tallies of workers that died: their counts stay in the metrics. */
  private readonly retired = new RequestTally(REQUEST_BUCKETS);
  private closing = false;
  /** Set once every first worker listens: from then on one that dies is replaced; before, start-up fails. */
  private started = false;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private exits: Array<() => void> = [];
  private frontFd = -1;
  private readonly watchdog: WorkerWatchdog;

  constructor(private readonly options: WorkerPoolOptions) {
    this.slots = Array.from({ length: options.count }, (_, i) => new WorkerSlot(i));
    this.watchdog = new WorkerWatchdog(this.slots, options.log);
  }

  /** Processes serving the front now. */
  get live(): number {
    return this.slots.filter((s) => s.ready).length;
  }

  /** Forks every worker on `frontFd`, a listening socket; resolves once all accept, with its address as they see it. */
  async start(frontFd: number): Promise<BoundAddress> {
    this.frontFd = frontFd;
    this.sync();
    const ready = await Promise.all(this.slots.map((slot) => this.fork(slot)));
    this.started = true;
    this.watchdog.start();
    return ready[0]!;
  }

  /** A reload was applied: every worker gets the new config and apps. */
  appsChanged(): void {
    this.sync();
    this.broadcast({ t: 'apps', config: this.options.config(), apps: this.mirrors() });
  }

  /** The activator's generation failed: the workers' requests on it fail the same way. */
  generationFailed(app: string, generation: number, failure: WakegateError): void {
    this.broadcast({ t: 'failed', app, generation, error: toWire(failure) });
  }

  /**
   * The idle countdown of `app` ended here: every worker parks it (new requests for it ask the primary,
   * and those wait here for the verdict) and says whether it has any in flight. Idle only if none has.
   * The verdict is acted on by the activator as the promise resolves (a stop pushes `stopping` at once);
   * only a macrotask later are the workers unparked and the waiting acquires let go, so that none of them
   * can be granted the instance being stopped.
   */
  confirmIdle(app: string): Promise<boolean> {
    if (this.confirming.has(app)) return Promise.resolve(false);
    this.options.log.debug({ app }, 'idle: asking the workers before the stop');
    const verdict = Promise.all(this.slots.map((slot) => slot.ask((id) => ({ t: 'park', id, app })))).then((replies) => {
      const idle = replies.every((r) => r === 'gone' || (r !== 'timeout' && r.t === 'parked' && r.quiet));
      this.options.log.debug({ app, idle }, idle ? 'idle: every worker is quiet' : 'idle: a worker is busy, staying up');
      return idle;
    });
    const settled = verdict.then(
      () =>
        new Promise<void>((done) =>
          setImmediate(() => {
            this.confirming.delete(app);
            this.broadcast({ t: 'unpark', app });
            done();
          }),
        ),
    );
    this.confirming.set(app, settled);
    return verdict;
  }

  /** Every worker's latest tally, asked now (for a scrape); a worker that does not answer counts with its last. */
  async collect(): Promise<void> {
    await Promise.all(
      this.slots.map(async (slot) => {
        const reply = await slot.ask((id) => ({ t: 'tally', id }));
        if (typeof reply !== 'string' && reply.t === 'tally') slot.tallied(reply.tally, this.options.refused);
      }),
    );
  }

  /** What the metrics add to the primary's own request tally. */
  tallies(): Array<{ readonly apps: Iterable<readonly [string, RequestCounts]> }> {
    return [this.retired, ...this.slots.flatMap((s) => (s.tally ? [s.tally] : []))];
  }

  /** Shutdown: every worker stops accepting and finishes its requests within `graceMs`, then exits. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.watchdog.stop();
    for (const timer of this.restartTimers) clearTimeout(timer);
    for (const unsubscribe of this.subscriptions.values()) unsubscribe();
    this.subscriptions.clear();
    const running = this.slots.filter((s) => s.child);
    if (running.length === 0) return;
    const exited = new Promise<void>((done) => {
      let left = running.length;
      this.exits.push(() => --left === 0 && done());
    });
    for (const slot of running) slot.send({ t: 'shutdown', graceMs });
    const kill = setTimeout(() => {
      for (const slot of running) slot.child?.kill('SIGKILL');
    }, graceMs + DEFAULTS.internal.workerExitGraceMs);
    await exited;
    clearTimeout(kill);
  }

  private fork(slot: WorkerSlot): Promise<BoundAddress> {
    const { appsFd, log } = this.options;
    const child = fork(WORKER_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc', this.frontFd, appsFd] });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.countedRefused = {};
    slot.tally = undefined;
    return new Promise((resolve, reject) => {
      child.on('message', (message: FromWorker) => {
        if (message.t === 'ready') {
          slot.ready = true;
          log.info({ worker: slot.index, pid: child.pid }, 'worker ready');
          return resolve(message.address);
        }
        this.onMessage(slot, child.pid, message);
      });
      child.on('error', (err) => log.error({ err, worker: slot.index }, 'failed to run worker'));
      child.on('exit', (code, signal) => {
        const wasReady = slot.ready;
        if (slot.tally) mergeInto(this.retired, slot.tally);
        slot.tally = undefined;
        slot.gone();
        if (!wasReady) reject(new Error(`worker ${slot.index} exited before it listened (${signal ?? `code ${code}`})`));
        if (this.closing) return this.exits.forEach((e) => e());
        if (!this.started) return;
        this.replace(slot, code, signal);
      });
      slot.send({ t: 'init', index: slot.index, workers: this.slots.length, config: this.options.config(), apps: this.mirrors(), parked: [...this.confirming.keys()] });
    });
  }

  private replace(slot: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void {
    const delay = slot.backoff.recordFailure(Date.now(), Date.now() - slot.startedAt);
    this.options.log.warn({ worker: slot.index, code, signal, restartInMs: delay }, 'worker exited unexpectedly, replacing it');
    this.options.restarted();
    this.refork(slot, delay);
  }

  private refork(slot: WorkerSlot, delay: number): void {
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.closing) return;
      try {
        // A worker that dies before it listens is replaced by its exit handler; this catches only that.
        this.fork(slot).catch(() => {});
      } catch (err) {
        // fork(2) itself failed (out of processes or fds): try again later, as for a crash loop.
        const again = slot.backoff.recordFailure(Date.now(), 0);
        this.options.log.error({ err, worker: slot.index, restartInMs: again }, 'failed to fork worker');
        this.refork(slot, again);
      }
    }, delay);
    this.restartTimers.add(timer);
  }

  private onMessage(slot: WorkerSlot, pid: number | undefined, message: FromWorker): void {
    const app = 'app' in message ? this.options.apps.get(message.app) : undefined;
    switch (message.t) {
      case 'acquire':
        return void this.grant(slot, message.id, message.app);
      case 'wake':
        return slot.send({ t: 'woken', id: message.id, woken: wakeForWorker((name) => this.options.apps.wakeHeld(name), message.app, this.options.log) });
      case 'busy':
        this.options.log.debug({ worker: slot.index, pid, app: message.app, generation: message.generation }, 'worker busy');
        return slot.busy(message.app, message.generation, (generation) => app?.holdFor(generation));
      case 'quiet':
        this.options.log.debug({ worker: slot.index, pid, app: message.app, generation: message.generation }, 'worker quiet');
        return slot.quiet(message.app, message.generation);
      case 'responded':
      case 'unresponsive': {
        const hold = slot.holds.get(message.app)?.get(message.generation);
        return message.t === 'responded' ? hold?.responded() : hold?.unresponsive();
      }
      case 'parked':
      case 'tally':
      case 'pong':
        return slot.answered(message.id, message);
      default:
        return undefined;
    }
  }

  /** A worker's acquire, run on the activator; the generation granted is held for the worker from then on. */
  private async grant(slot: WorkerSlot, id: number, name: string): Promise<void> {
    const child = slot.child;
    try {
      await this.confirming.get(name);
      const app = this.options.apps.get(name);
      if (!app) throw new UnavailableError(name, 'removed');
      const lease = await app.acquire();
      const generation = app.generation;
      // Held before the lease ends, so that the instance is not idle for an instant in between.
      if (slot.child === child && generation !== undefined) slot.busy(name, generation, (g) => app.holdFor(g));
      lease.release();
      slot.send({ t: 'granted', id, generation });
    } catch (err) {
      if (!(err instanceof Error && 'code' in err)) this.options.log.error({ err, app: name }, 'failed to acquire for a worker');
      slot.send({ t: 'refused', id, error: toWire(err) });
    }
  }

  private mirrors(): AppMirror[] {
    return this.options.apps.list().map(mirrorOf);
  }

  private broadcast(message: ToWorker): void {
    for (const slot of this.slots) slot.send(message);
  }

  /** Follows every app's state (apps come and go with reloads). */
  private sync(): void {
    const apps = new Set(this.options.apps.list());
    for (const [app, unsubscribe] of this.subscriptions) {
      if (apps.has(app)) continue;
      unsubscribe();
      this.subscriptions.delete(app);
    }
    for (const app of apps) {
      if (this.subscriptions.has(app)) continue;
      this.subscriptions.set(
        app,
        app.onStateChange(() => {
          const mirror = mirrorOf(app);
          this.broadcast({ t: 'state', app: app.name, mirror });
          for (const slot of this.slots) slot.dropStale(app.name, mirror.generation);
        }),
      );
    }
  }
}
