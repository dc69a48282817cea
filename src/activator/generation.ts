import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
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

/** What the activator does when a lease's request gets an answer, gets none, or ends. */
export interface LeaseEvents {
  responded(gen: Generation): void;
  unanswered(gen: Generation): void;
  released(gen: Generation): void;
}

/** A hold on a generation by requests the activator does not see (a worker's): see Generation.hold. */
export interface Hold {
  /** One of them got the instance's first answer. */
  responded(): void;
  /** They saw `unresponsiveAfter` response timeouts in a row. */
  unresponsive(): void;
  /** Ends the hold, once. */
  release(): void;
}

class GenerationHold implements Hold {
  private held = true;

  constructor(
    private readonly gen: Generation,
    private readonly events: LeaseEvents,
  ) {}

  responded(): void {
    this.gen.unansweredInARow = 0;
    this.events.responded(this.gen);
  }

  unresponsive(): void {
    this.gen.unansweredInARow = Math.max(this.gen.unansweredInARow, DEFAULTS.internal.unresponsiveAfter);
    this.events.unanswered(this.gen);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    const gen = this.gen;
    gen.inflight -= 1;
    gen.holds -= 1;
    if (gen.inflight + gen.upgraded.size === 0) gen.becameQuiet();
    this.events.released(gen);
  }
}

/**
 * A lease as one object of a fixed shape, no closures: one is made per request. It is its own token in
 * the generation's `waiting` set.
 */
class GenerationLease implements Lease {
  readonly dispatcher: UpstreamDispatcher;
  private closeUpgraded: (() => void) | undefined;
  private released = false;

  constructor(
    private readonly gen: Generation,
    private readonly events: LeaseEvents,
  ) {
    this.dispatcher = gen.upstream.dispatcher;
  }

  failure(): WakegateError | undefined {
    return this.gen.failure;
  }

  responded(): void {
    const gen = this.gen;
    if (gen.waiting.size > 0) gen.waiting.delete(this);
    gen.unansweredInARow = 0;
    this.events.responded(gen);
  }

  unanswered(): void {
    this.gen.unansweredInARow += 1;
    this.events.unanswered(this.gen);
  }

  upgraded(close: () => void): void {
    if (this.released || this.closeUpgraded) return;
    const gen = this.gen;
    gen.inflight -= 1;
    gen.breaker.release();
    gen.upgraded.add(close);
    this.closeUpgraded = close;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const gen = this.gen;
    if (gen.waiting.size > 0) gen.waiting.delete(this);
    if (this.closeUpgraded) gen.upgraded.delete(this.closeUpgraded);
    else {
      gen.inflight -= 1;
      gen.breaker.release();
    }
    if (gen.inflight + gen.upgraded.size === 0) gen.becameQuiet();
    this.events.released(gen);
  }
}

/** Generation ids, unique in the gateway process: how workers name the instance a lease or a failure is about. */
let lastId = 0;

/**
 * One start attempt of an app and everything tied to it: the spec it was started with, its upstream pool,
 * its instance once spawned, and how it ended. Requests hold a lease on exactly one generation, so an
 * exit fails only the requests of that instance, never those queued for the next one.
 */
export class Generation {
  readonly id = ++lastId;
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
  /** Of `inflight`, the holds for requests elsewhere (hold()): only their holder knows whether any is in flight now. */
  holds = 0;
  /** Response timeouts in a row, reset by any answer: enough of them and the instance is replaced. */
  unansweredInARow = 0;
  /** Leases dispatched before the instance proved it accepts; with the breaker's waiters, what `queueLimit` bounds. */
  readonly waiting = new Set<object>();
  readonly upgraded = new Set<() => void>();
  /** `concurrency` slots for this instance; the upstream pool has as many connections, so undici never queues. */
  readonly breaker: Breaker;

  private quietWaiters: Array<() => void> = [];

  /** `failed`: told once this generation's requests must fail (ActivatorDeps.generationFailed). */
  constructor(
    readonly spec: AppSpec,
    readonly upstream: Upstream,
    readonly triggeredAt: number,
    private readonly failed?: (generation: number, failure: WakegateError) => void,
  ) {
    this.breaker = new Breaker(spec.concurrency);
  }

  /**
   * Opens a lease on this generation for a request that holds one of its breaker slots; the slot is given
   * back when the request ends or becomes an upgraded connection (which no longer uses a pool connection).
   * `events` (one object per activator) lets the activator react without owning the counts.
   */
  lease(queued: boolean, events: LeaseEvents): Lease {
    this.inflight += 1;
    const lease = new GenerationLease(this, events);
    if (queued) this.waiting.add(lease);
    return lease;
  }

  /**
   * A hold on this generation for requests in flight elsewhere (a worker process's): it counts as in flight,
   * so the instance is not idle and a drain waits for it, but it takes no breaker slot (the holder bounds
   * its own requests).
   */
  hold(events: LeaseEvents): Hold {
    this.inflight += 1;
    this.holds += 1;
    return new GenerationHold(this, events);
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
    this.failed?.(this.id, this.failure);
  }

  /** Why the instance ended: what the gateway stopped it for, else what its exit says. */
  reasonFor(exit: ExitInfo): ExitReason {
    return this.stopReason ?? (exit.oom ? 'oom' : exit.signal ? 'killed' : 'crash');
  }

  get confirmed(): boolean {
    return this.runningSince !== undefined;
  }
}
