import { responseSweep, SweepEntry } from './response-sweep.js';

export interface ResponseTiming {
  /** 0 disables the timer. */
  readonly timeoutMs: number;
  /** `limits.sendTimeout`: longest time a response may get no data out to its client; 0 disables. */
  readonly sendTimeoutMs: number;
  /**
   * When the lease's instance was confirmed running (its first answer), or undefined while its cold start
   * is still going on. Read only when the timer fires, so it costs nothing on the fast path.
   */
  readonly runningSince: () => number | undefined;
}

/**
 * Bounds how long the proxy waits on an instance, in two phases.
 *
 * Head: from the moment the request is on a connection to the instance (undici's onRequestStart, when
 * it writes the request) to the response head. Time spent before, waiting for a breaker slot or for a
 * connection, says nothing about the app, and counting it would turn a queue into 504s and the app into
 * `unresponsive`. A request that waits for a cold start is governed by `startTimeout` instead: while the
 * app is still starting, the timer only re-arms, and once the app is running it counts from whichever came
 * last, the connection or the confirmation. Counting from the connection alone would turn every cold start
 * longer than `responseTimeout` into a 504, although the activator's own start timeout (503) is the one
 * that should decide those requests.
 *
 * Body: after the head, the timer is an inactivity timer, re-armed by each chunk; it is suspended while the
 * proxy itself holds the upstream paused for a slow client, because that stall is not the app's.
 *
 * The deadlines are checked by the process's one sweep (response-sweep.ts): a timeout is never early, and
 * late by up to `DEFAULTS.internal.responseSweepMs` (twice that after body data); a chunk costs a field write.
 */
export class ResponseTimer extends SweepEntry {
  private connectedAt = 0;
  private phase: 'head' | 'body' = 'head';

  constructor(
    private readonly timing: ResponseTiming,
    private readonly onTimeout: (phase: 'head' | 'body') => void,
  ) {
    super();
    this.extendMs = timing.timeoutMs;
  }

  /** Call once the request is on a connection to the instance. */
  start(): void {
    this.connectedAt = Date.now();
    this.arm(this.connectedAt, this.timing.timeoutMs);
  }

  /** The head arrived: from now on, only a stalled body counts. */
  headReceived(): void {
    this.phase = 'body';
    // Armed already (the usual case): the mark makes the sweep count the body's timeout from its own clock.
    if (this.armed) this.touched = true;
    else this.arm(Date.now(), this.timing.timeoutMs);
  }

  /** Body data arrived. */
  progress(): void {
    // This runs for every chunk of every response: the sweep turns the mark into a new deadline.
    this.touched = this.armed;
  }

  /** The proxy paused the upstream for the client: not the app's stall. */
  suspend(): void {
    this.stop();
  }

  resume(): void {
    if (!this.armed) this.arm(Date.now(), this.timing.timeoutMs);
  }

  stop(): void {
    responseSweep.disarm(this);
  }

  private arm(now: number, ms: number): void {
    if (this.timing.timeoutMs <= 0) return;
    responseSweep.arm(this, now + ms);
  }

  expired(now: number): void {
    if (this.phase === 'head') {
      const since = this.timing.runningSince();
      // Still starting: startTimeout bounds this wait, and ends it with its own answer.
      if (since === undefined) return this.arm(now, this.timing.timeoutMs);
      const left = Math.max(since, this.connectedAt) + this.timing.timeoutMs - now;
      if (left > 0) return this.arm(now, left);
    }
    this.onTimeout(this.phase);
  }
}
