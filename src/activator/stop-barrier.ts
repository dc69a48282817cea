/**
 * Holds requests that arrive while an instance stops: they wait for it to be gone, then start the next
 * one. Counted, because such requests are queued like those waiting for a start.
 */
const SETTLED: Promise<void> = Promise.resolve();
const NOTHING = (): void => {};

export class StopBarrier {
  private count = 0;
  // Shared while no stop is under way: every configured app has a barrier, most never stop anything.
  private signal: Promise<void> = SETTLED;
  private release: () => void = NOTHING;

  /** Requests waiting for the stop to end. */
  get waiters(): number {
    return this.count;
  }

  /** Resolves when no stop is under way. */
  get done(): Promise<void> {
    return this.signal;
  }

  begin(): void {
    this.signal = new Promise((resolve) => (this.release = resolve));
  }

  end(): void {
    this.release();
  }

  /** Waits for the stop to end; `counted` runs once the request counts as waiting. */
  async wait(counted: () => void): Promise<void> {
    this.count += 1;
    counted();
    try {
      await this.signal;
    } finally {
      this.count -= 1;
    }
  }
}
