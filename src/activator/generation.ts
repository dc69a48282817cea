import type { AppSpec } from '../config/types.js';
import type { WakegateError } from '../errors.js';
import type { Instance } from '../runtime/runtime.js';
import type { Upstream } from '../upstream/pool.js';
import type { ExitReason } from './recorder.js';

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
  /** Why requests of this generation fail, once they must: read by the proxy to pick the status. */
  failure: WakegateError | undefined;
  startTimer: NodeJS.Timeout | undefined;
  inflight = 0;
  /** Leases dispatched before the instance proved it accepts: the queue that `queueLimit` bounds. */
  readonly waiting = new Set<object>();
  readonly upgraded = new Set<() => void>();

  private quietWaiters: Array<() => void> = [];

  constructor(
    readonly spec: AppSpec,
    readonly upstream: Upstream,
    readonly triggeredAt: number,
  ) {}

  /** Calls `fn` once the generation has neither requests nor upgraded connections (or is gone). */
  onQuiet(fn: () => void): void {
    this.quietWaiters.push(fn);
  }

  becameQuiet(): void {
    const waiters = this.quietWaiters;
    this.quietWaiters = [];
    for (const fn of waiters) fn();
  }

  get confirmed(): boolean {
    return this.runningSince !== undefined;
  }
}
