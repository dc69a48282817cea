/**
 * Counts repeated events by key and reports each key's count at most once per interval, so that an event
 * that can happen thousands of times a second (a dropped line, a refused connection) costs one log line a
 * second. The first event of a quiet period starts the interval; `flush` reports what is pending now.
 */
export class EventTally<K extends string = string> {
  private readonly counts = new Map<K, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly report: (key: K, count: number) => void,
  ) {}

  add(key: K, count = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + count);
    // Unref'd: a pending summary must not keep the gateway alive at exit (flush says it instead).
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const pending = [...this.counts];
    this.counts.clear();
    for (const [key, count] of pending) this.report(key, count);
  }
}
