import { addRequests, AppRequests, type RequestCounts, type RequestTally } from '../metrics/request-tally.js';

/** One app's request counts as they cross the IPC channel (plain arrays, cumulative since the worker started). */
export interface AppTallySnapshot extends RequestCounts {
  readonly codes: ReadonlyArray<readonly [status: number, count: number]>;
}

/** What a worker reports at a scrape: its request tally and its front's refused connections, both cumulative. */
export interface TallySnapshot {
  readonly apps: ReadonlyArray<readonly [app: string, tally: AppTallySnapshot]>;
  readonly refused: Readonly<Record<string, number>>;
}

export function snapshot(tally: RequestTally, refused: Readonly<Record<string, number>>): TallySnapshot {
  return {
    apps: [...tally.apps].map(([app, t]) => [app, { codes: [...t.codes], buckets: [...t.buckets], sum: t.sum, count: t.count }] as const),
    refused: { ...refused },
  };
}

/**
 * Adds `from`'s counts to `into`. Snapshots are cumulative, so the primary keeps the last one of each live
 * worker and folds a dead worker's last one into a tally of its own: a counter never goes back.
 */
export function mergeInto(into: RequestTally, from: TallySnapshot): void {
  for (const [app, t] of from.apps) {
    let target = into.apps.get(app);
    if (!target) into.apps.set(app, (target = new AppRequests(into.bounds)));
    addRequests(target, t);
  }
}

/** The sum of several cumulative refusal counts. */
export function addRefused(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [reason, n] of Object.entries(from)) into[reason] = (into[reason] ?? 0) + n;
}
