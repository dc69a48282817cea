/**
 * The per-instance concurrency limit, in Knative's manner: at most `capacity` requests hold a slot, and
 * the rest wait in FIFO order. A finished request hands its slot straight to the oldest waiter, so a
 * request that arrives later can never overtake one that waits. How many may wait is the activator's
 * business (`queueLimit`): the breaker only keeps the order.
 */
export class Breaker {
  private active = 0;
  /** FIFO of waiters; `head` advances instead of shift() so that a long queue costs O(1) per grant. */
  private waiters: Array<((granted: boolean) => void) | undefined> = [];
  private head = 0;

  constructor(private readonly capacity: number) {}

  /** Requests holding a slot. */
  get inFlight(): number {
    return this.active;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.waiters.length - this.head;
  }

  /** A slot is free and nobody waits for it already. */
  get free(): boolean {
    return this.active < this.capacity && this.waiting === 0;
  }

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (!this.free) return false;
    this.active += 1;
    return true;
  }

  /** Waits for a slot: resolves true holding one, or false when `cancelAll` ended the wait (no slot held). */
  wait(): Promise<boolean> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Gives a slot back, or passes it on to the oldest waiter. */
  release(): void {
    const next = this.shift();
    if (next) next(true);
    else this.active = Math.max(0, this.active - 1);
  }

  /** The instance is going away: every waiter is told to look again (and will find the next instance). */
  cancelAll(): void {
    for (let next = this.shift(); next; next = this.shift()) next(false);
  }

  private shift(): ((granted: boolean) => void) | undefined {
    if (this.head >= this.waiters.length) return undefined;
    const next = this.waiters[this.head];
    this.waiters[this.head] = undefined;
    this.head += 1;
    // Compact once the consumed prefix dominates, so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
    return next;
  }
}
