import { DEFAULTS } from '../defaults.js';
import { isFailure, type ExitReason } from './recorder.js';
/**
 * Crash-loop backoff. One crash restarts at once (a single failure should not cost a request); from the
 * second consecutive crash on, the next start waits 1 s, 2 s, 4 s ... up to 60 s. An instance that ran
 * healthy for 30 s clears the count, so a crash after a long healthy run is treated as the first again.
 */
export class Backoff {
  private failures = 0;
  private notBefore = 0;

  constructor(
    private readonly initialMs: number = DEFAULTS.internal.backoffInitialMs,
    private readonly maxMs: number = DEFAULTS.internal.backoffMaxMs,
    private readonly resetAfterMs: number = DEFAULTS.internal.backoffResetAfterMs,
  ) {}

  /** Records a failed instance that ran `ranMs`; returns how long the next start must wait. */
  recordFailure(now: number, ranMs: number): number {
    if (ranMs >= this.resetAfterMs) this.failures = 0;
    this.failures += 1;
    const delay = this.failures < 2 ? 0 : Math.min(this.initialMs * 2 ** (this.failures - 2), this.maxMs);
    this.notBefore = now + delay;
    return delay;
  }

  /** An instance stopped cleanly after running `ranMs` (idle stop, drain): clears the count if healthy long enough. */
  recordSuccess(ranMs: number): void {
    if (ranMs >= this.resetAfterMs) this.reset();
  }

  /**
   * The gateway stopped an instance for `reason` after it ran `ranMs` since its first answer (undefined: it
   * never answered). A stop for a failure (unresponsive, start_timeout) was counted when it was decided, and
   * the time before it is no healthy run: only the other reasons (idle, drain, stop ...) may clear the count.
   */
  recordStopped(reason: ExitReason, ranMs: number | undefined): void {
    if (ranMs !== undefined && !isFailure(reason)) this.recordSuccess(ranMs);
  }

  /** Milliseconds until a start is allowed again; 0 when it is allowed now. */
  remaining(now: number): number {
    return Math.max(0, this.notBefore - now);
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
    this.notBefore = 0;
  }
}
