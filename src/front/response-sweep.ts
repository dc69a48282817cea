import { DEFAULTS } from '../defaults.js';

/** One armed deadline; intrusive links, so that arming and disarming allocate nothing. */
export abstract class SweepEntry {
  /** Epoch ms after which `expired` is called, unless `touched` says there was activity since the last sweep. */
  deadline = 0;
  /** Set (one field write) on activity; the sweep then moves the deadline `extendMs` past its own clock. */
  touched = false;
  extendMs = 0;
  prev: SweepEntry | undefined;
  next: SweepEntry | undefined;
  armed = false;
  /** The deadline passed without activity; the entry is already disarmed. */
  abstract expired(now: number): void;
}

/**
 * Every response timeout of the process, checked by one periodic timer instead of a setTimeout and a
 * clearTimeout per request (and a refresh per chunk): a timeout is a list insertion and a removal. The
 * list is intrusive rather than a Set: a long-lived Set of short-lived objects is promoted to the old
 * generation and keeps dead young objects reachable, which made scavenges several times slower.
 * The timer is unref'd and stops at the first sweep that finds nothing armed.
 */
export class TimeoutSweep {
  private head: SweepEntry | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs: number) {}

  arm(entry: SweepEntry, deadline: number): void {
    entry.deadline = deadline;
    entry.touched = false;
    if (entry.armed) return;
    entry.armed = true;
    entry.prev = undefined;
    entry.next = this.head;
    if (this.head) this.head.prev = entry;
    this.head = entry;
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.periodMs);
      this.timer.unref();
    }
  }

  disarm(entry: SweepEntry): void {
    if (!entry.armed) return;
    entry.armed = false;
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    entry.prev = entry.next = undefined;
  }

  private sweep(): void {
    if (!this.head) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const now = Date.now();
    let entry: SweepEntry | undefined = this.head;
    while (entry) {
      const next: SweepEntry | undefined = entry.next;
      // Activity happened before now, so a deadline counted from now is never early.
      if (entry.touched) {
        entry.touched = false;
        entry.deadline = now + entry.extendMs;
      } else if (now >= entry.deadline) {
        this.disarm(entry);
        entry.expired(now);
      }
      entry = next;
    }
  }
}

/** The process's sweep of response timeouts. */
export const responseSweep = new TimeoutSweep(DEFAULTS.internal.responseSweepMs);
