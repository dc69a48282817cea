import type { AppSpec } from '../config/types.js';
import type { WakegateError } from '../errors.js';
import type { ExitInfo, Instance } from '../runtime/runtime.js';
import type { Upstream, UpstreamDispatcher } from '../upstream/pool.js';
import { Breaker } from './breaker.js';
import type { ExitReason } from './recorder.js';

/** A request's hold on the app: while any lease is open, the app is not idle. */
export interface Lease {
  readonly dispatcher: UpstreamDispatcher;
  /** Why this lease's instance failed, when it did; decides the status of an upstream error. */
  failure(): WakegateError | undefined;
  /** The first response byte arrived: the instance accepts, so its cold start is over. */
  responded(): void;
  /** No response head came within responseTimeout: evidence that the instance may be wedged. */
  unanswered(): void;
  /** The request became an upgraded connection; `close` ends it when the instance goes away. */
  upgraded(close: () => void): void;
  release(): void;
}

/**
 * One start attempt of an app and everything tied to it: the spec it was started with, its upstream pool,
 * its instance once spawned, and how it ended. Requests hold a lease on exactly one generation, so an
 * exit fails only the requests of that instance, never those queued for the next one.
 */
export class Generation {
  instance: Instance | undefined;
  spawnedAt: number | undefined;
  /** Set at the first response byte: proof that the instance accepts, the end of the cold start. */
  runningSince: number | undefined;
  stopReason: ExitReason | undefined;
  /** Started by a connection waiting on one of the app's sockets: it is confirmed when the instance accepts. */
  woken = false;
  /** Why requests of this generation fail, once they must: read by the proxy to pick the status. */
  failure: WakegateError | undefined;
  startTimer: NodeJS.Timeout | undefined;
  inflight = 0;
  /** Response timeouts in a row, reset by any answer: enough of them and the instance is replaced. */
  unansweredInARow = 0;
  /** Leases dispatched before the instance proved it accepts; with the breaker's waiters, what `queueLimit` bounds. */
  readonly waiting = new Set<object>();
  readonly upgraded = new Set<() => void>();
  /** `concurrency` slots for this instance; the upstream pool has as many connections, so undici never queues. */
  readonly breaker: Breaker;

  private quietWaiters: Array<() => void> = [];

  constructor(
    readonly spec: AppSpec,
    readonly upstream: Upstream,
    readonly triggeredAt: number,
  ) {
    this.breaker = new Breaker(spec.concurrency);
  }

  /**
   * Opens a lease on this generation for a request that holds one of its breaker slots; the slot is given
   * back when the request ends or becomes an upgraded connection (which no longer uses a pool connection).
   * `events` lets the activator react without owning the counts.
   */
  lease(queued: boolean, events: { responded(): void; unanswered(): void; released(): void }): Lease {
    this.inflight += 1;
    const token = {};
    if (queued) this.waiting.add(token);
    let closeUpgraded: (() => void) | undefined;
    let released = false;
    return {
      dispatcher: this.upstream.dispatcher,
      failure: () => this.failure,
      responded: () => {
        this.waiting.delete(token);
        this.unansweredInARow = 0;
        events.responded();
      },
      unanswered: () => {
        this.unansweredInARow += 1;
        events.unanswered();
      },
      upgraded: (close) => {
        if (released || closeUpgraded) return;
        this.inflight -= 1;
        this.breaker.release();
        this.upgraded.add(close);
        closeUpgraded = close;
      },
      release: () => {
        if (released) return;
        released = true;
        this.waiting.delete(token);
        if (closeUpgraded) this.upgraded.delete(closeUpgraded);
        else {
          this.inflight -= 1;
          this.breaker.release();
        }
        if (this.inflight + this.upgraded.size === 0) this.becameQuiet();
        events.released();
      },
    };
  }

  /** Resolves once the generation has neither requests nor upgraded connections, or after `ms`. */
  quiet(ms: number): Promise<void> {
    if (this.inflight + this.upgraded.size === 0) return Promise.resolve();
    return new Promise((done) => {
      const timer = setTimeout(done, ms);
      this.quietWaiters.push(() => {
        clearTimeout(timer);
        done();
      });
    });
  }

  /** Wakes whoever waits in `quiet`: the last lease ended, or the instance is gone. */
  becameQuiet(): void {
    const waiters = this.quietWaiters;
    this.quietWaiters = [];
    for (const fn of waiters) fn();
  }

  /** Trigger to `runtime.start` returning, once it has. */
  get spawnMs(): number | undefined {
    return this.spawnedAt === undefined ? undefined : this.spawnedAt - this.triggeredAt;
  }

  /** Fails whatever is still on this instance's connections (their requests cannot be answered any more). */
  cut(failure: WakegateError): void {
    this.failure ??= failure;
    this.upstream.destroy(this.failure);
    for (const close of this.upgraded) close();
  }

  /** Why the instance ended: what the gateway stopped it for, else what its exit says. */
  reasonFor(exit: ExitInfo): ExitReason {
    return this.stopReason ?? (exit.oom ? 'oom' : exit.signal ? 'killed' : 'crash');
  }

  get confirmed(): boolean {
    return this.runningSince !== undefined;
  }
}
