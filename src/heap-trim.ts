import { DEFAULTS } from './defaults.js';
import { trimHeap } from './native/index.js';

/**
 * Gives the native heap back after bulk work: start-up, a reload, a /metrics scrape. Each leaves megabytes
 * freed in the middle of glibc's heap (V8's GC worklists and compiler zones, stream buffers), which glibc
 * keeps for good: two scrapes of 10,000 apps left 10 MB, half a KB per idle app. One trim, a moment after
 * the work rather than during it, gives it back (malloc_trim releases free pages wherever they are).
 * Scheduled at most once per delay, so a burst of scrapes costs one trim.
 */
export class HeapTrim {
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly delayMs: number = DEFAULTS.internal.heapTrimDelayMs) {}

  /** Trims once `delayMs` from now, unless a trim is scheduled already. The timer keeps nothing alive. */
  soon(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      trimHeap();
    }, this.delayMs);
    this.#timer.unref();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The process's one: the heap is the process's, whichever gateway did the work. */
export const heapTrim = new HeapTrim();
