import type { Lease } from '../activator/generation.js';
import { Breaker } from '../activator/breaker.js';
import { DEFAULTS } from '../defaults.js';
import { InstanceCrashedError, type WakegateError } from '../errors.js';
import { watchProcess } from '../native/index.js';
import type { Upstream, UpstreamDispatcher } from '../upstream/pool.js';

/** What a worker tells the primary about one generation: edges only, never one message per request. */
export interface GenerationReports {
  report(event: 'busy' | 'quiet' | 'responded' | 'unresponsive', generation: number): void;
  /** In-flight requests and upgraded connections of the app in this worker changed by `delta` (for park). */
  active(delta: number): void;
}

/**
 * A worker's side of one generation of an app (an instance the primary started, or is starting): this
 * worker's own upstream pool to it and its share of the app's breaker. It reports `busy` when its first
 * request goes out and `quiet` once none has been in flight for workerQuietMs; while busy, the primary
 * holds the generation for this worker, so the instance is neither idle nor drained under its requests.
 */
export class LocalGeneration {
  readonly breaker: Breaker;
  failure: WakegateError | undefined;
  /** No new requests go to it (the instance stops, or another one took its place). */
  ended = false;
  unansweredInARow = 0;
  readonly upgraded = new Set<() => void>();
  /** The instance answered (here or in another worker: the primary says `running`). */
  confirmed = false;
  /** Leases sent before the instance was confirmed and not answered yet: they count against queueLimit, as in the primary. */
  unconfirmed = 0;
  private activeCount = 0;
  /** The failure is this worker's own guess (it saw the instance exit), until the primary says what it was. */
  private guessed = false;
  private watching = false;
  private reportedBusy = false;
  private respondedSent = false;
  private unresponsiveSent = false;
  /** Lazy, like IdleTimer: one timer per pause, not a setTimeout/clearTimeout pair per request. */
  private quietTimer: NodeJS.Timeout | undefined;
  /** When the in-flight count last fell to 0 (performance.now). */
  private zeroSince = 0;

  constructor(
    readonly id: number,
    readonly upstream: Upstream,
    share: number,
    private readonly reports: GenerationReports,
  ) {
    this.breaker = new Breaker(share);
  }

  /** Requests in flight on it here, upgraded connections included. */
  get active(): number {
    return this.activeCount;
  }

  /** A lease for a request that holds one of this generation's breaker slots. */
  lease(): Lease {
    this.activeCount += 1;
    this.reports.active(1);
    this.markBusy();
    const queued = !this.confirmed;
    if (queued) this.unconfirmed += 1;
    return new LocalLease(this, queued);
  }

  /** The primary granted this generation to an acquire of ours: it holds it for us now, whatever we said before. */
  granted(): void {
    this.markBusy();
    if (this.activeCount === 0) this.armQuiet();
  }

  released(): void {
    this.activeCount -= 1;
    this.reports.active(-1);
    if (this.activeCount === 0) this.armQuiet();
  }

  responded(): void {
    this.unansweredInARow = 0;
    if (this.respondedSent) return;
    this.respondedSent = true;
    this.reports.report('responded', this.id);
  }

  unanswered(): void {
    this.unansweredInARow += 1;
    if (this.unansweredInARow < DEFAULTS.internal.unresponsiveAfter || this.unresponsiveSent) return;
    this.unresponsiveSent = true;
    this.reports.report('unresponsive', this.id);
  }

  /** The instance stops: requests in flight finish, none is added; waiters look again (and ask the primary). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.breaker.cancelAll();
    this.upstream.close();
    // A pending quiet is told now: a drain in the primary waits for it.
    if (this.activeCount === 0 && this.reportedBusy) this.armQuiet();
  }

  /**
   * Watches the instance's process (a pidfd, as the primary does): its exit fails the requests still on it
   * in the same event-loop turn as their connections' errors, so that the proxy names the crash as it does
   * in one process, however late the primary's word on it comes over IPC.
   */
  watch(pid: number, app: string): void {
    if (this.watching) return;
    this.watching = true;
    try {
      // Once the primary has said it failed, the pid may be anyone's by now: nothing to watch then.
      void watchProcess(pid, () => !this.failure).exited.then(() => {
        if (this.failure) return;
        this.fail(new InstanceCrashedError(app, 'exit seen by a worker'));
        this.guessed = true;
      });
    } catch {
      // Gone already (or pid reused): the primary's `failed` says what happened.
    }
  }

  /** The instance is gone or never came: what is still on it fails with `failure`, as in the primary. */
  fail(failure: WakegateError): void {
    if (this.guessed) {
      // The primary's account of the exit replaces the guess, for requests that read it from now on.
      this.guessed = false;
      this.failure = failure;
      return;
    }
    this.failure ??= failure;
    this.end();
    this.upstream.destroy(this.failure);
    for (const close of this.upgraded) close();
  }

  private markBusy(): void {
    if (this.reportedBusy) return;
    this.reportedBusy = true;
    this.reports.report('busy', this.id);
  }

  /** Quiet is told only after workerQuietMs at 0 (at once for an ended generation, which no request will reuse). */
  private armQuiet(): void {
    this.zeroSince = performance.now();
    if (this.ended) return this.tellQuiet();
    if (this.quietTimer === undefined) this.scheduleQuiet(DEFAULTS.internal.workerQuietMs);
  }

  private scheduleQuiet(ms: number): void {
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      // Busy again since: the release that brings it back to 0 arms it anew.
      if (this.activeCount > 0 || !this.reportedBusy) return;
      const left = this.zeroSince + DEFAULTS.internal.workerQuietMs - performance.now();
      if (left > 1 && !this.ended) return this.scheduleQuiet(left);
      this.tellQuiet();
    }, ms);
    this.quietTimer.unref();
  }

  private tellQuiet(): void {
    if (this.activeCount > 0 || !this.reportedBusy) return;
    this.reportedBusy = false;
    this.reports.report('quiet', this.id);
  }
}

/** One request's hold on a LocalGeneration, of a fixed shape like the primary's GenerationLease. */
class LocalLease implements Lease {
  readonly dispatcher: UpstreamDispatcher;
  private closeUpgraded: (() => void) | undefined;
  private done = false;

  constructor(
    private readonly gen: LocalGeneration,
    private queued: boolean,
  ) {
    this.dispatcher = gen.upstream.dispatcher;
  }

  /** No longer waiting for the start: answered, or over. */
  private dequeue(): void {
    if (!this.queued) return;
    this.queued = false;
    this.gen.unconfirmed -= 1;
  }

  failure(): WakegateError | undefined {
    return this.gen.failure;
  }

  responded(): void {
    this.dequeue();
    this.gen.responded();
  }

  unanswered(): void {
    this.gen.unanswered();
  }

  /** An upgraded connection keeps the app busy here, but no longer takes a breaker slot (as in-process). */
  upgraded(close: () => void): void {
    if (this.done || this.closeUpgraded) return;
    this.gen.breaker.release();
    this.gen.upgraded.add(close);
    this.closeUpgraded = close;
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.dequeue();
    if (this.closeUpgraded) this.gen.upgraded.delete(this.closeUpgraded);
    else this.gen.breaker.release();
    this.gen.released();
  }
}
