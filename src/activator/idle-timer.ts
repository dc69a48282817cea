/** A resettable one-shot timer that remembers its deadline (for status output). */
export class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  private due: number | undefined;

  constructor(private readonly onIdle: () => void) {}

  /** Starts the countdown unless it already runs: activity disarms it, quiet time must be continuous. */
  arm(ms: number): void {
    if (this.timer) return;
    this.due = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = undefined;
      this.onIdle();
    }, ms);
    // An idle countdown alone must not keep a gateway process alive.
    this.timer.unref();
  }

  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due = undefined;
  }

  /** Epoch ms when the app will be stopped, or undefined when no countdown runs. */
  get deadline(): number | undefined {
    return this.due;
  }
}
