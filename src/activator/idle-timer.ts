/**
 * A resettable one-shot timer that remembers its deadline (for status output). Lazy: disarming only
 * forgets the deadline, and the one timer, when it fires, re-schedules itself for a later deadline or
 * goes away. An app serving one request at a time arms and disarms it per request, which then costs no
 * setTimeout/clearTimeout pair.
 */
export class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires (monotonic ms); may be earlier than `dueAt` (it re-schedules), never later. */
  private timerAt = 0;
  /** The deadline, monotonic (performance.now), so that a wall-clock step cannot move it; undefined when disarmed. */
  private dueAt: number | undefined;
  /** The same deadline in epoch ms, for status output. */
  private due: number | undefined;

  constructor(private readonly onIdle: () => void) {}

  /** Starts the countdown unless it already runs: activity disarms it, quiet time must be continuous. */
  arm(ms: number): void {
    if (this.dueAt !== undefined) return;
    const dueAt = performance.now() + ms;
    this.dueAt = dueAt;
    this.due = Date.now() + ms;
    if (this.timer && this.timerAt <= dueAt) return;
    this.schedule(dueAt);
  }

  disarm(): void {
    this.dueAt = this.due = undefined;
  }

  /** Epoch ms when the app will be stopped, or undefined when no countdown runs. */
  get deadline(): number | undefined {
    return this.due;
  }

  private schedule(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - performance.now()));
    // An idle countdown alone must not keep a gateway process alive.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const dueAt = this.dueAt;
    if (dueAt === undefined) return;
    // setTimeout may fire a fraction of a millisecond early by performance.now(); that is not worth a re-schedule.
    if (performance.now() < dueAt - 1) return this.schedule(dueAt);
    this.disarm();
    this.onIdle();
  }
}
