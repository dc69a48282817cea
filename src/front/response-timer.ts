export interface ResponseTiming {
  /** 0 disables the timer. */
  readonly timeoutMs: number;
  /**
   * When the lease's instance was confirmed running (its first answer), or undefined while its cold start
   * is still going on. Read only when the timer fires, so it costs nothing on the fast path.
   */
  readonly runningSince: () => number | undefined;
}

/**
 * Bounds how long the proxy waits on an instance, in two phases.
 *
 * Head: from dispatch to the response head. A request that waits for a cold start is governed by
 * `startTimeout` instead: while the app is still starting, the timer only re-arms, and once the app is
 * running it counts from whichever came last, the dispatch or the confirmation. Counting from dispatch alone
 * would turn every cold start longer than `responseTimeout` into a 504, although the activator's own start
 * timeout (503) is the one that should decide those requests.
 *
 * Body: after the head, the timer is an inactivity timer, re-armed by each chunk; it is suspended while the
 * proxy itself holds the upstream paused for a slow client, because that stall is not the app's.
 */
export class ResponseTimer {
  private timer: NodeJS.Timeout | undefined;
  private readonly dispatchedAt = Date.now();
  private phase: 'head' | 'body' = 'head';

  constructor(
    private readonly timing: ResponseTiming,
    private readonly onTimeout: (phase: 'head' | 'body') => void,
  ) {}

  /** Call once the request is dispatched. */
  start(): void {
    this.arm(this.timing.timeoutMs);
  }

  /** The head arrived: from now on, only a stalled body counts. */
  headReceived(): void {
    this.phase = 'body';
    this.stop();
    this.arm(this.timing.timeoutMs);
  }

  /** Body data arrived. */
  progress(): void {
    // refresh() re-uses the timer: this runs for every chunk of every response.
    this.timer?.refresh();
  }

  /** The proxy paused the upstream for the client: not the app's stall. */
  suspend(): void {
    this.stop();
  }

  resume(): void {
    if (this.timer === undefined) this.arm(this.timing.timeoutMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    if (this.timing.timeoutMs <= 0) return;
    this.timer = setTimeout(() => this.fire(), ms);
  }

  private fire(): void {
    this.timer = undefined;
    if (this.phase === 'head') {
      const since = this.timing.runningSince();
      // Still starting: startTimeout bounds this wait, and ends it with its own answer.
      if (since === undefined) return this.arm(this.timing.timeoutMs);
      const left = Math.max(since, this.dispatchedAt) + this.timing.timeoutMs - Date.now();
      if (left > 0) return this.arm(left);
    }
    this.onTimeout(this.phase);
  }
}
