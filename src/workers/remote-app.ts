import type { Lease } from '../activator/generation.js';
import type { AppState } from '../activator/recorder.js';
import type { AppSpec } from '../config/types.js';
import { QueueFullError, UnavailableError, type WakegateError } from '../errors.js';
import type { FrontApp, FrontRecord } from '../front/front-app.js';
import { createUpstream } from '../upstream/pool.js';
import { LocalGeneration } from './local-generation.js';
import type { AppMirror, StartMirror } from './protocol.js';

/** The primary, as a worker's apps see it; declared here, by its user. */
export interface PrimaryLink {
  /**
   * Has the primary's activator serve the app (start it once, whatever the number of workers asking; wait
   * out a stop; apply backoff and queueLimit). Resolves with the generation to send on, which the primary
   * then holds for this worker; rejects with the WakegateError to answer.
   */
  acquire(app: string): Promise<number | undefined>;
  report(event: 'busy' | 'quiet' | 'responded' | 'unresponsive', app: string, generation: number): void;
}

/** Where a worker reaches the app socket: through the apps directory the primary holds and passed as an fd. */
export type ConnectPath = (app: string) => string;

class RemoteRecord implements FrontRecord {
  requests = 0;
  lastColdStart: { readonly at: number } | undefined;
  request(): void {
    this.requests += 1;
  }
}

/**
 * An app in a worker process: a mirror of the primary's activator that the request handler uses like the
 * activator itself. While the mirror says the app is starting or running, a request takes a lease of this
 * worker's own at once (its own pool, its share of the breaker) and nothing is sent to the primary; when
 * the app is stopped or stopping, or parked by an idle check, requests ask the primary (once per worker at
 * a time) and go on the generation it grants.
 *
 * The breaker is split: each of N workers has ceil(concurrency / N) slots per instance and lets
 * ceil(queueLimit / N) requests wait (in FIFO order for its own slots, for the primary, or sent to an
 * instance still starting). So the instance has at most N·ceil(concurrency / N) requests in flight, and a
 * request never waits on another process's slot.
 */
export class RemoteApp implements FrontApp {
  readonly record = new RemoteRecord();
  private mirror: AppMirror;
  private local: LocalGeneration | undefined;
  private parked = false;
  private asking: Promise<number | undefined> | undefined;
  private waiting = 0;
  private closedFor: 'removed' | 'shutdown' | undefined;
  /** In flight here over every generation, for the idle check's "quiet?". */
  private activeAll = 0;
  /** This process's Date.now() when the backoff pushed last ends. */
  private backoffUntil = 0;
  private readonly stateListeners = new Set<(state: AppState) => void>();

  constructor(
    mirror: AppMirror,
    private readonly workers: number,
    private readonly link: PrimaryLink,
    private readonly connectPath: ConnectPath,
  ) {
    this.mirror = { ...mirror, generation: undefined };
    this.update(mirror);
  }

  get name(): string {
    return this.mirror.spec.name;
  }
  get spec(): AppSpec {
    return this.mirror.spec;
  }
  get state(): AppState {
    return this.mirror.state;
  }
  /** The primary's view of the app's start, as of its last push (for the waiting page). */
  get start(): StartMirror {
    return this.mirror.start;
  }
  get backoffRemainingMs(): number {
    return Math.max(0, this.backoffUntil - Date.now());
  }
  /** Removed by a reload, or the worker shuts down. */
  get closed(): boolean {
    return this.closedFor !== undefined;
  }
  /** Requests in flight here (upgraded connections included) on any instance of the app. */
  get active(): number {
    return this.activeAll;
  }

  tryAcquire(): Lease | undefined {
    const gen = this.serving();
    if (!gen) return undefined;
    if (this.mustQueue(gen) && this.queued(gen) >= this.share(this.spec.queueLimit)) return undefined;
    if (!gen.breaker.tryTake()) return undefined;
    this.record.request();
    return gen.lease();
  }

  async acquire(): Promise<Lease> {
    this.record.request();
    for (;;) {
      if (this.closedFor) throw new UnavailableError(this.name, this.closedFor);
      const gen = this.serving();
      if (gen) {
        // Past this worker's share of `concurrency`, or while the instance starts, a request is one more waiting.
        if (this.mustQueue(gen)) this.checkQueue(gen);
        if (gen.breaker.tryTake()) return gen.lease();
        this.checkQueue(gen);
        const held = await this.counted(gen.breaker.wait());
        if (held && gen === this.serving()) return gen.lease();
        // The wait ended with the instance going away (or the app parked): look again, like a new request.
        if (held) gen.breaker.release();
        continue;
      }
      this.checkQueue(this.local);
      const granted = await this.counted((this.asking ??= this.ask()));
      const local = this.local;
      // Granted while parked too: the primary decided the idle check before it answered.
      if (local && local.id === granted && !local.ended) {
        local.granted();
        if (local.breaker.tryTake()) return local.lease();
      }
    }
  }

  /** A state the primary pushed, or the app's entry in a reload. */
  update(mirror: AppMirror): void {
    const before = this.mirror;
    this.mirror = mirror;
    if (mirror.generation !== this.local?.id) {
      this.local?.end();
      this.local = mirror.generation === undefined ? undefined : this.open(mirror.generation, mirror.spec);
    }
    if (mirror.state === 'stopping' || mirror.state === 'stopped') this.local?.end();
    if (mirror.state === 'running' && this.local) this.local.confirmed = true;
    if (mirror.pid !== undefined && this.local && !this.local.ended) this.local.watch(mirror.pid, this.name);
    if (mirror.state === 'running' && (before.state !== 'running' || before.generation !== mirror.generation)) this.record.lastColdStart = { at: Date.now() };
    this.backoffUntil = Date.now() + mirror.start.backoffRemainingMs;
    if (mirror.state !== before.state) this.changed();
  }

  /** Calls `listener` after every change of the mirrored state (and at close); returns the unsubscribe. */
  onStateChange(listener: (state: AppState) => void): () => void {
    this.stateListeners.add(listener);
    return () => void this.stateListeners.delete(listener);
  }

  /** The primary's activator failed generation `generation`: its requests here fail the same way. */
  failed(generation: number, failure: WakegateError): void {
    if (this.local?.id === generation) this.local.fail(failure);
  }

  /** Park: from now on requests ask the primary; true when none is in flight here. */
  park(): boolean {
    this.parked = true;
    this.local?.breaker.cancelAll();
    return this.activeAll === 0;
  }

  unpark(): void {
    this.parked = false;
  }

  /** Removed by a reload, or the worker shuts down: requests in flight finish, new ones are refused. */
  close(reason: 'removed' | 'shutdown'): void {
    this.closedFor = reason;
    this.local?.end();
    // No push comes for it any more: whoever waits for a change looks again, and finds it closed.
    this.changed();
  }

  private changed(): void {
    for (const listener of [...this.stateListeners]) listener(this.state);
  }

  /** This worker's side of a new instance: its own pool of `share` connections, as many breaker slots. */
  private open(generation: number, spec: AppSpec): LocalGeneration {
    const share = this.share(spec.concurrency);
    const upstream = createUpstream(this.connectPath(this.name), { connections: share });
    return new LocalGeneration(generation, upstream, share, {
      report: (event, id) => this.link.report(event, this.name, id),
      active: (delta) => (this.activeAll += delta),
    });
  }

  /** The generation a request may go to without asking the primary, if any. */
  private serving(): LocalGeneration | undefined {
    const local = this.local;
    if (this.parked || this.closedFor || !local || local.ended || local.failure) return undefined;
    return this.mirror.state === 'running' || this.mirror.state === 'starting' ? local : undefined;
  }

  private ask(): Promise<number | undefined> {
    const asked = this.link.acquire(this.name);
    const done = (): void => {
      if (this.asking === asked) this.asking = undefined;
    };
    asked.then(done, done);
    return asked;
  }

  private mustQueue(gen: LocalGeneration): boolean {
    return this.mirror.state === 'starting' || !gen.breaker.free;
  }

  /** Requests waiting here: for a slot, for the primary, or sent to an instance that has not answered yet. */
  private queued(gen: LocalGeneration | undefined): number {
    return this.waiting + (gen && !gen.confirmed ? gen.unconfirmed : 0);
  }

  /** Past this worker's share of queueLimit waiting, a request is refused at once. */
  private checkQueue(gen: LocalGeneration | undefined): void {
    if (this.queued(gen) >= this.share(this.spec.queueLimit)) throw new QueueFullError(this.name, this.spec.queueLimit);
  }

  /** Counted as waiting for as long as `wait` runs. */
  private async counted<T>(wait: Promise<T>): Promise<T> {
    this.waiting += 1;
    try {
      return await wait;
    } finally {
      this.waiting -= 1;
    }
  }

  private share(total: number): number {
    return Math.max(1, Math.ceil(total / this.workers));
  }
}
