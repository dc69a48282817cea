/**
 * Issue 13's goals for wakegate at 1 worker, on the bench's first app (hello world), stated as facts beside
 * the table: each is met, not met, or not measured. Nothing passes or fails on them.
 */
import { median } from './socket-throughput.js';
import type { LoadName, PathEntry, ThroughputApp } from './throughput.js';

export interface Goal {
  readonly goal: string;
  /** Null when a path it needs was not measured. */
  readonly measured: number | null;
  readonly unit: string;
  readonly met: boolean | null;
}

const WAKEGATE = 'wakegate';

export function throughputGoals(app: ThroughputApp): Goal[] {
  const path = (id: string): PathEntry | undefined => app.paths.find((p) => p.id === id);
  const load = (id: string, name: LoadName) => {
    const r = path(id)?.result;
    return r?.status === 'ok' ? r.loads[name] : undefined;
  };
  const ours = load(WAKEGATE, 'c50');
  const peer = load('http-proxy', 'c50');
  const vsPeer = ours && peer && ours.runs.length === peer.runs.length ? median(ours.runs.map((r, i) => r.wrk.reqPerSec / peer.runs[i]!.wrk.reqPerSec)) : null;
  const goal = (text: string, measured: number | null | undefined, unit: string, met: (v: number) => boolean): Goal => {
    const v = measured ?? null;
    return { goal: text, measured: v, unit, met: v === null ? null : met(v) };
  };
  const paired = (xs: readonly number[] | null | undefined): number | null => (xs ? median(xs) : null);
  return [
    goal('req/s at c=50 ≥ 0.5× direct (paired by round)', paired(ours?.pairedVsDirect), '×', (v) => v >= 0.5),
    goal('gateway CPU per request at c=50 ≤ 100 µs', ours?.proxyCpuUsPerRequest, 'µs', (v) => v <= 100),
    goal('p50 latency added over direct at c=1 ≤ 100 µs', paired(load(WAKEGATE, 'c1')?.p50AddedUs), 'µs', (v) => v <= 100),
    goal('req/s at c=50 ≥ 2× http-proxy (paired by round)', vsPeer, '×', (v) => v >= 2),
  ];
}
