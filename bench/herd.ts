/**
 * Thundering herd: N clients send their first request to one stopped app at the same instant. The gateway
 * must start exactly one instance and answer every request; the clients' latency shows how long the last of
 * them waited behind the cold start and the upstream pool.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type Dispatcher } from 'undici';
import { GatewayProcess, HELLO_DIR, type LogLine } from './gateway-process.js';
import { markdownTable, ms, summarize, type Summary } from './stats.js';

export interface HerdResult {
  readonly clients: number;
  readonly queueLimit: number;
  /** Cold-start log lines for the app: exactly one is the single-flight promise. Reported, not asserted. */
  readonly starts: number;
  readonly startResults: Record<string, number>;
  readonly errors: number;
  /** `<status> <error code from the JSON body>`, or `exception <undici/errno code>`, with counts. */
  readonly errorBreakdown: Record<string, number>;
  /** Send → response headers, per client, 200s and errors alike. */
  readonly latencyMs: Summary;
  readonly samplesMs: number[];
  /** First send → last response body read. */
  readonly wallMs: number;
  readonly loggedFirstByteMs: number | null;
  readonly loggedSpawnMs: number | null;
  /** The gateway's warn/error lines, by message and code: what a failure looked like from inside. */
  readonly gatewayWarnings: Record<string, number>;
  /** The same herd against the app once it runs: the cost of N fresh connections alone. */
  readonly warm: { readonly latencyMs: Summary; readonly wallMs: number; readonly errorBreakdown: Record<string, number> };
}

export interface Timed {
  readonly ms: number;
  /** Undefined for a 200; otherwise the breakdown key (see HerdResult.errorBreakdown). */
  readonly error?: string;
  readonly body?: string;
}

// Generous, so that a slow answer is measured as slow rather than turned into a client-side timeout.
export const CLIENT_TIMEOUTS = { headersTimeout: 30_000, bodyTimeout: 30_000 } as const;

/** One GET with the Host header; never throws, so a herd's Promise.all always sees every outcome. */
export async function timedGet(d: Dispatcher, origin: string, host: string): Promise<Timed> {
  const t0 = performance.now();
  try {
    const res = await d.request({ origin, path: '/', method: 'GET', headers: { host }, ...CLIENT_TIMEOUTS });
    const elapsed = performance.now() - t0;
    const body = await res.body.text();
    if (res.statusCode === 200) return { ms: elapsed, body };
    return { ms: elapsed, error: `${res.statusCode} ${errorCode(body)}`, body };
  } catch (err) {
    const e = err as { code?: string; name?: string };
    return { ms: performance.now() - t0, error: `exception ${e.code ?? e.name ?? String(err)}` };
  }
}

function errorCode(body: string): string {
  try {
    return String((JSON.parse(body) as { error?: { code?: unknown } }).error?.code ?? 'no error code');
  } catch {
    return 'non-JSON body';
  }
}

export function tally(keys: Iterable<string | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  return out;
}

/** pino levels: 40 warn, 50 error, 60 fatal. */
export function gatewayWarnings(lines: readonly LogLine[]): Record<string, number> {
  return tally(lines.filter((l) => Number(l.level) >= 40).map((l) => `${l.msg}${l.code ? ` [${String(l.code)}]` : ''}`));
}

export const isColdStart = (app: string) => (l: LogLine): boolean => l.app === app && l.result !== undefined;

export async function herd(opts: { quick: boolean }): Promise<HerdResult> {
  const n = opts.quick ? 200 : 1000;
  // The default queueLimit (1000) would answer part of a 1000-client herd with 503 WG_ERR_QUEUE_FULL; that
  // is the limit working, not the herd. Headroom above N makes this measure the single-flight start alone.
  const queueLimit = n + 1000;
  const hello = { hosts: ['hello.localhost'], command: [process.execPath, 'server.mjs'], dir: HELLO_DIR, runtime: 'process', queueLimit };
  const gateway = GatewayProcess.start({ hello });
  try {
    const { port } = await gateway.ready();
    const origin = `http://127.0.0.1:${port}`;
    const from = gateway.lines.length;
    const cold = await fire(n, origin, 'hello.localhost');
    // Log lines travel through a pipe; give the last ones a moment before counting.
    await sleep(200);
    const lines = gateway.lines.slice(from);
    // The same herd again, now that the app runs: what N fresh connections cost without any cold start
    // (both client and gateway share this machine's CPUs, so this is the floor the cold herd sits on).
    const warm = await fire(n, origin, 'hello.localhost');
    const starts = lines.filter(isColdStart('hello'));
    const ok = starts.find((l) => l.result === 'ok');
    const samplesMs = cold.outcomes.map((o) => o.ms);
    const errorBreakdown = tally(cold.outcomes.map((o) => o.error));
    const warmErrors = tally(warm.outcomes.map((o) => o.error));
    return {
      clients: n,
      queueLimit,
      starts: starts.length,
      startResults: tally(starts.map((l) => String(l.result))),
      errors: Object.values(errorBreakdown).reduce((a, b) => a + b, 0),
      errorBreakdown,
      latencyMs: summarize(samplesMs),
      samplesMs,
      wallMs: cold.wallMs,
      loggedFirstByteMs: typeof ok?.firstByteMs === 'number' ? ok.firstByteMs : null,
      loggedSpawnMs: typeof ok?.spawnMs === 'number' ? ok.spawnMs : null,
      gatewayWarnings: gatewayWarnings(lines),
      warm: { latencyMs: summarize(warm.outcomes.map((o) => o.ms)), wallMs: warm.wallMs, errorBreakdown: warmErrors },
    };
  } finally {
    await gateway.stop();
  }
}

/**
 * N requests at once, one Client each: each its own TCP connection, so all N are really concurrent at the
 * front port (a shared pool could queue some of them client-side, which would hide the herd from the gateway).
 */
async function fire(n: number, origin: string, host: string): Promise<{ outcomes: Timed[]; wallMs: number }> {
  const clients = Array.from({ length: n }, () => new Client(origin, { ...CLIENT_TIMEOUTS, keepAliveTimeout: 10_000 }));
  try {
    const t0 = performance.now();
    const outcomes = await Promise.all(clients.map((c) => timedGet(c, origin, host)));
    return { outcomes, wallMs: performance.now() - t0 };
  } finally {
    await Promise.allSettled(clients.map((c) => c.destroy()));
  }
}

export function breakdown(b: Record<string, number>): string {
  const entries = Object.entries(b);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}: ${v}`).join('; ');
}

export function renderHerd(r: HerdResult): string[] {
  const l = r.latencyMs;
  const w = r.warm.latencyMs;
  return [
    `### Herd: ${r.clients} concurrent first requests to one stopped app (queueLimit ${r.queueLimit})`,
    markdownTable(
      ['measure', 'value'],
      [
        ['cold starts logged (want 1)', `${r.starts} (${breakdown(r.startResults)})`],
        ['errors', `${r.errors} of ${r.clients}`],
        ['error breakdown', breakdown(r.errorBreakdown)],
        ['latency p50 / p99 / max, ms (send → headers)', `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}`],
        ['herd wall time, ms (first send → last body)', ms(r.wallMs)],
        ['same herd, app already running: p50 / p99 / max, ms', `${ms(w.p50)} / ${ms(w.p99)} / ${ms(w.max)}`],
        ['same herd, app already running: wall ms; errors', `${ms(r.warm.wallMs)}; ${breakdown(r.warm.errorBreakdown)}`],
        ['gateway log: spawnMs / firstByteMs', `${ms(r.loggedSpawnMs ?? NaN)} / ${ms(r.loggedFirstByteMs ?? NaN)}`],
        ['gateway warnings', breakdown(r.gatewayWarnings)],
      ],
    ),
  ];
}
