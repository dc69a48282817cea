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
