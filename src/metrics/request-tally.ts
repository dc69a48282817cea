/** Bounds of the request duration histogram (seconds): from a cached answer to a slow report. */
export const REQUEST_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One app's finished requests, in plain numbers: what the request metrics are built from at scrape time. */
export class AppRequests {
  /** Requests per status (0 is kept as 499 only when exported). */
  readonly codes = new Map<number, number>();
  /** Non-cumulative bucket counts, one per bound plus the overflow; only for routed requests. */
  readonly buckets: number[];
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.buckets = new Array<number>(bounds.length + 1).fill(0);
  }
}

/**
 * Requests counted in plain arrays per app: one Map lookup, one bucket search, a few additions. Handing each
 * request to prom-client (label hashing and validation, twice) cost a whole-process 13 µs per request;
 * the registry gets the totals when scraped instead (prom.ts), so a scrape shows the same values.
 */
export class RequestTally {
  readonly apps = new Map<string, AppRequests>();
  private last: AppRequests | undefined;
  private lastApp = '';

  constructor(readonly bounds: readonly number[]) {}

  /** `observed`: whether the duration counts (requests no app was routed to only count by status). */
  add(app: string, status: number, seconds: number, observed: boolean): void {
    let tally = this.last;
    if (tally === undefined || this.lastApp !== app) {
      tally = this.apps.get(app);
      if (tally === undefined) this.apps.set(app, (tally = new AppRequests(this.bounds)));
      this.last = tally;
      this.lastApp = app;
    }
    tally.codes.set(status, (tally.codes.get(status) ?? 0) + 1);
    if (!observed) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i += 1;
    tally.buckets[i]! += 1;
    tally.sum += seconds;
    tally.count += 1;
  }
}

/** One app's counts as they can be added up: a tally's own, or one a worker process sent (src/workers/). */
export interface RequestCounts {
  readonly codes: Iterable<readonly [status: number, count: number]>;
  readonly buckets: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** Adds `from` to `into` (same bounds). */
export function addRequests(into: AppRequests, from: RequestCounts): void {
  for (const [status, n] of from.codes) into.codes.set(status, (into.codes.get(status) ?? 0) + n);
  from.buckets.forEach((n, i) => (into.buckets[i] = (into.buckets[i] ?? 0) + n));
  into.sum += from.sum;
  into.count += from.count;
}
