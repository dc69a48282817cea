/**
 * What the soak counts, per time bucket (10 s for runs under 3 minutes, else 1 minute), and the report made
 * of it: a markdown table over time, and a summary of what the caller judges (unexpected 5xx, mismatches,
 * fd and RSS growth, fds back to their start value once every app is idle).
 */
import { performance } from 'node:perf_hooks';

export type Kind = 'get' | 'upload' | 'ws';

export interface Sample {
  /** Seconds since the load began. */
  readonly t: number;
  readonly fds: number;
  readonly rssKiB: number;
  /** Live children of the gateway: running instances. */
  readonly instances: number;
}

interface Bucket {
  readonly requests: Record<Kind, number>;
  uploadBytes: number;
  fivexx: number;
  otherStatus: number;
  mismatches: number;
  errors: number;
  coldStarts: number;
  readonly getMs: number[];
}

interface Incident {
  readonly t: number;
  readonly kind: Kind;
  readonly host: string;
  readonly what: string;
}

/** Only the first ones are kept: enough to diagnose, bounded however broken the run. */
const MAX_INCIDENTS = 50;

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const median = (values: number[]): number | null => percentile(values, 50);
const growth = (from: number | null, to: number | null): number | null => (from && to !== null ? ((to - from) / from) * 100 : null);
const fixed = (v: number | null, digits = 1): string => (v === null ? '-' : v.toFixed(digits));

export class Tally {
  readonly samples: Sample[] = [];
  fdStart = 0;
  fdIdleEnd = 0;
  readonly bucketSec: number;
  private readonly buckets: Bucket[] = [];
  private readonly incidents: Incident[] = [];

  constructor(
    readonly seconds: number,
    /** Date.now() when the load began, to place the gateway's log lines. */
    readonly startedEpoch: number,
    /** performance.now() when the load began. */
    readonly startedAt: number,
  ) {
    this.bucketSec = seconds < 180 ? 10 : 60;
  }

  /** `ms` is given for the GETs whose latency is sampled (not the deliberately slow ones). */
  done(kind: Kind, ms?: number): void {
    const bucket = this.bucket();
    bucket.requests[kind] += 1;
    if (ms !== undefined) bucket.getMs.push(ms);
  }

  uploaded(bytes: number): void {
    this.bucket().uploadBytes += bytes;
  }

  /** Records a non-200 answer; returns whether the answer was a 200 (and its body worth checking). */
  status(kind: Kind, host: string, status: number, body: string): boolean {
    if (status === 200) return true;
    if (status >= 500) this.bucket().fivexx += 1;
    else this.bucket().otherStatus += 1;
    this.incident(kind, host, `${status} ${body.slice(0, 200)}`);
    return false;
  }

  mismatch(kind: Kind, host: string, what: string): void {
    this.bucket().mismatches += 1;
    this.incident(kind, host, `mismatch: ${what}`);
  }

  error(kind: Kind, host: string, err: unknown): void {
    this.bucket().errors += 1;
    const e = err as { name?: string; message?: string; code?: string };
    this.incident(kind, host, `error: ${e.name ?? 'Error'} ${e.code ?? ''} ${e.message ?? String(err)}`);
  }

  /** Cold starts, from the gateway's own log lines (pino isoTime). */
  coldStarts(lines: ReadonlyArray<Record<string, unknown>>): void {
    for (const line of lines) {
      if (typeof line.msg !== 'string' || !line.msg.startsWith('cold start of')) continue;
      const at = Date.parse(String(line.time)) - this.startedEpoch;
      if (at >= 0) this.bucketAt(at).coldStarts += 1;
    }
  }

  report(meta: Record<string, unknown>) {
    const rows = this.buckets.map((b, i) => {
      const from = i * this.bucketSec;
      const lastRow = i === this.buckets.length - 1;
      const inBucket = this.samples.filter((s) => s.t >= from && (s.t < from + this.bucketSec || lastRow));
      const last = inBucket.at(-1);
      return {
        from,
        to: Math.min(from + this.bucketSec, this.seconds),
        ...b.requests,
        uploadMiB: b.uploadBytes / 2 ** 20,
        fivexx: b.fivexx,
        otherStatus: b.otherStatus,
        mismatches: b.mismatches,
        errors: b.errors,
        coldStarts: b.coldStarts,
        getP50Ms: percentile(b.getMs, 50),
        getP99Ms: percentile(b.getMs, 99),
        fds: last?.fds ?? null,
        rssMiB: last ? last.rssKiB / 1024 : null,
        maxInstances: inBucket.length ? Math.max(...inBucket.map((s) => s.instances)) : null,
      };
    });
    // Growth compares medians of two windows of samples, so that one busy sample does not decide it:
    // from minute 2 (a third of the run when shorter than 3 minutes) against the last stretch of the load.
    const mark = this.seconds >= 180 ? 120 : this.seconds / 3;
    const window = Math.max(10, Math.min(60, this.seconds / 6));
    const early = this.samples.filter((s) => s.t >= mark && s.t < mark + window);
    const late = this.samples.filter((s) => s.t > this.seconds - window);
    const sum = (key: keyof (typeof rows)[number]): number => rows.reduce((n, r) => n + Number(r[key] ?? 0), 0);
    const summary = {
      requests: { get: sum('get'), upload: sum('upload'), ws: sum('ws') },
      uploadMiB: sum('uploadMiB'),
      unexpected5xx: sum('fivexx'),
      otherStatus: sum('otherStatus'),
      mismatches: sum('mismatches'),
      errors: sum('errors'),
      coldStarts: sum('coldStarts'),
      growthWindow: { fromSec: mark, toSec: this.seconds, windowSec: window },
      fds: { early: median(early.map((s) => s.fds)), late: median(late.map((s) => s.fds)), growthPct: 0 as number | null },
      rssMiB: { early: median(early.map((s) => s.rssKiB / 1024)), late: median(late.map((s) => s.rssKiB / 1024)), growthPct: 0 as number | null },
      fdStart: this.fdStart,
      fdIdleEnd: this.fdIdleEnd,
    };
    summary.fds.growthPct = growth(summary.fds.early, summary.fds.late);
    summary.rssMiB.growthPct = growth(summary.rssMiB.early, summary.rssMiB.late);
    return { meta: { ...meta, seconds: this.seconds, bucketSec: this.bucketSec, startedAt: new Date(this.startedEpoch).toISOString() }, summary, rows, samples: this.samples, incidents: this.incidents };
  }

  markdown(report: ReturnType<Tally['report']>): string {
    const head = '| t (s) | GET | upload | ws | MiB up | 5xx | mismatch | errors | cold starts | GET p50 ms | GET p99 ms | fds | RSS MiB | instances (max) |';
    const lines = [head, `|${'---|'.repeat(14)}`];
    for (const r of report.rows) {
      lines.push(
        `| ${r.from}–${r.to} | ${r.get} | ${r.upload} | ${r.ws} | ${r.uploadMiB.toFixed(0)} | ${r.fivexx} | ${r.mismatches} | ${r.errors} | ${r.coldStarts} | ${fixed(r.getP50Ms)} | ${fixed(r.getP99Ms)} | ${r.fds ?? '-'} | ${fixed(r.rssMiB)} | ${r.maxInstances ?? '-'} |`,
      );
    }
    const s = report.summary;
    const w = s.growthWindow;
    lines.push(
      '',
      `requests: ${s.requests.get} GET, ${s.requests.upload} uploads (${s.uploadMiB.toFixed(0)} MiB), ${s.requests.ws} WebSocket sessions; ${s.coldStarts} cold starts`,
      `unexpected 5xx: ${s.unexpected5xx} (goal 0); other non-200: ${s.otherStatus}; data mismatches: ${s.mismatches}; transport errors: ${s.errors}`,
      `fds: median ${fixed(s.fds.early, 0)} at ${w.fromSec.toFixed(0)}–${(w.fromSec + w.windowSec).toFixed(0)} s -> ${fixed(s.fds.late, 0)} in the last ${w.windowSec.toFixed(0)} s: ${fixed(s.fds.growthPct)}% (goal < +10%)`,
      `RSS: median ${fixed(s.rssMiB.early)} MiB -> ${fixed(s.rssMiB.late)} MiB: ${fixed(s.rssMiB.growthPct)}% (goal < +10%)`,
      `fds with every app idle: ${s.fdStart} at the start, ${s.fdIdleEnd} at the end (${s.fdIdleEnd - s.fdStart >= 0 ? '+' : ''}${s.fdIdleEnd - s.fdStart})`,
    );
    for (const i of report.incidents.slice(0, 10)) lines.push(`  at ${i.t.toFixed(1)} s ${i.kind} ${i.host}: ${i.what}`);
    return lines.join('\n');
  }

  private incident(kind: Kind, host: string, what: string): void {
    if (this.incidents.length < MAX_INCIDENTS) this.incidents.push({ t: (performance.now() - this.startedAt) / 1000, kind, host, what });
  }

  private bucket(): Bucket {
    return this.bucketAt(performance.now() - this.startedAt);
  }

  private bucketAt(ms: number): Bucket {
    // A late answer after the deadline still counts, in the last bucket.
    const index = Math.min(Math.floor(ms / 1000 / this.bucketSec), Math.ceil(this.seconds / this.bucketSec) - 1);
    while (this.buckets.length <= index) {
      this.buckets.push({ requests: { get: 0, upload: 0, ws: 0 }, uploadBytes: 0, fivexx: 0, otherStatus: 0, mismatches: 0, errors: 0, coldStarts: 0, getMs: [] });
    }
    return this.buckets[Math.max(0, index)]!;
  }
}
