/**
 * Idle churn: many apps with a 1 s idle timeout, visited in rotation slowly enough that each has gone idle
 * (and been stopped) before its next visit, so nearly every request is a cold start. Shows the sustained
 * start/stop rate, and whether the gateway leaks fds or memory across thousands of instance lifetimes.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { procSnapshot, type ProcSnapshot } from './density.js';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';
import { breakdown, CLIENT_TIMEOUTS, gatewayWarnings, tally, timedGet, type Timed } from './herd.js';
import { markdownTable, mb, ms, summarize, type Summary } from './stats.js';

export interface ChurnResult {
  readonly apps: number;
  readonly idleTimeoutMs: number;
  /** Planned time between two visits of the same app; longer than idle timeout + stop, so it is stopped. */
  readonly revisitMs: number;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Slots in the schedule; fewer are sent when cold starts are slower than CONCURRENCY / rate allows. */
  readonly plannedRequests: number;
  readonly requests: number;
  /** Mean time between two visits of one app, as achieved: planned revisitMs unless the schedule fell behind. */
  readonly achievedRevisitMs: number;
  /** Requests answered by an instance other than the one that answered the app's previous request. */
  readonly newInstanceRequests: number;
  readonly coldStarts: number;
  readonly coldStartResults: Record<string, number>;
  readonly coldStartsPerSec: number;
  readonly exitReasons: Record<string, number>;
  readonly errors: number;
  readonly errorBreakdown: Record<string, number>;
  readonly latencyMs: Summary;
  readonly loggedFirstByteMs: Summary;
  readonly gatewayWarnings: Record<string, number>;
  /**
   * Before any request; after the warm-up round (all apps just started: the deltas' reference); at the end
   * of the window; and once all went idle, which compared with `fresh` shows what churn left behind.
   */
  readonly gateway: { readonly fresh: ProcSnapshot; readonly start: ProcSnapshot; readonly end: ProcSnapshot; readonly idle: ProcSnapshot; readonly stillRunning: number };
}

const IDLE_TIMEOUT_MS = 1000;
// 2 s: idle timeout (1 s) + SIGTERM exit (~tens of ms) leaves ~0.9 s of margin for the app to be stopped.
const REVISIT_MS = 2000;
// Small, so the load stays a rotation rather than a flood. It also caps the rate at CONCURRENCY / cold-start
// latency: where that is below apps / REVISIT_MS the schedule falls behind, and the result says so
// (achievedRevisitMs); every visit is then still a cold start, only less often.
const CONCURRENCY = 4;

export async function churn(opts: { quick: boolean }): Promise<ChurnResult> {
  const appCount = opts.quick ? 10 : 100;
  const durationMs = opts.quick ? 6_000 : 60_000;
  const apps: Record<string, unknown> = {};
  for (let i = 0; i < appCount; i++) {
    apps[`app${i}`] = { hosts: [`app${i}.localhost`], command: [process.execPath, 'server.mjs'], dir: HELLO_DIR, runtime: 'process', idleTimeout: `${IDLE_TIMEOUT_MS}ms` };
  }
  const gateway = GatewayProcess.start(apps);
  let client: Pool | undefined;
  try {
    const { port } = await gateway.ready();
    const origin = `http://127.0.0.1:${port}`;
    const fresh = procSnapshot(gateway.pid);
    client = new Pool(origin, { connections: CONCURRENCY, ...CLIENT_TIMEOUTS });
    const c = client;
    const get = (k: number): Promise<Timed> => timedGet(c, origin, `app${k % appCount}.localhost`);
    // Warm-up: one round, so that the "start" reading includes a gateway that has run every app once.
    const lastPid = new Map<number, string>();
    for (let i = 0; i < appCount; i += CONCURRENCY) {
      const batch = Array.from({ length: Math.min(CONCURRENCY, appCount - i) }, (_, j) => get(i + j));
      (await Promise.all(batch)).forEach((o, j) => lastPid.set(i + j, pidOf(o)));
    }
    const start = procSnapshot(gateway.pid);
    // The warm-up's cold-start lines may still be in the pipe; the window must not count them.
    await gateway.waitFor(() => gateway.lines.filter((l) => l.result !== undefined).length >= appCount, 0, 5_000);
    const from = gateway.lines.length;

    // A fixed schedule: slot k is app k % N at t0 + k * REVISIT_MS / N. Bounded by count (total) and by
    // time (no slot starts after the window; each request has client timeouts).
    const total = Math.floor((durationMs * appCount) / REVISIT_MS);
    const outcomes: Timed[] = new Array(total);
    let next = 0;
    let newInstances = 0;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      for (let k = next++; k < total; k = next++) {
        const due = t0 + (k * REVISIT_MS) / appCount;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        if (performance.now() - t0 > durationMs) return;
        const o = await get(k);
        outcomes[k] = o;
        const pid = pidOf(o);
        if (pid !== '' && pid !== lastPid.get(k % appCount)) newInstances += 1;
        lastPid.set(k % appCount, pid);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsed = performance.now() - t0;
    await sleep(200); // the last log lines are still in the pipe
    const window = gateway.lines.slice(from);
    const end = procSnapshot(gateway.pid);
    // Our keep-alive connections to the front port are gateway fds too; "fresh" had none, nor should "idle".
    await client.close();
    const stillRunning = await waitAllStopped(gateway, 5_000);
    await sleep(500);
    const idle = procSnapshot(gateway.pid);

    const done = outcomes.filter((o): o is Timed => o !== undefined);
    const starts = window.filter((l) => l.result !== undefined);
    const errorBreakdown = tally(done.map((o) => o.error));
    return {
      apps: appCount,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      revisitMs: REVISIT_MS,
      concurrency: CONCURRENCY,
      durationMs: elapsed,
      plannedRequests: total,
      requests: done.length,
      achievedRevisitMs: (elapsed * appCount) / done.length,
      newInstanceRequests: newInstances,
      coldStarts: starts.length,
      coldStartResults: tally(starts.map((l) => String(l.result))),
      coldStartsPerSec: starts.length / (elapsed / 1000),
      exitReasons: tally(window.filter((l) => l.reason !== undefined).map((l) => String(l.reason))),
      errors: Object.values(errorBreakdown).reduce((a, b) => a + b, 0),
      errorBreakdown,
      latencyMs: summarize(done.map((o) => o.ms)),
      loggedFirstByteMs: summarize(starts.filter((l) => typeof l.firstByteMs === 'number').map((l) => l.firstByteMs as number)),
      gatewayWarnings: gatewayWarnings(window),
      gateway: { fresh, start, end, idle, stillRunning },
    };
  } finally {
    await client?.destroy().catch(() => {});
    await gateway.stop();
  }
}

/** The hello app answers "... (pid N)": a new pid for the same app means a new instance served it. */
function pidOf(o: Timed): string {
  return /\(pid (\d+)\)/.exec(o.body ?? '')?.[1] ?? '';
}

/** Instances that logged a successful start and no exit yet. Polls the log until none, or `timeoutMs`. */
async function waitAllStopped(gateway: GatewayProcess, timeoutMs: number): Promise<number> {
  const running = (): number => {
    const up = new Set<unknown>();
    for (const l of gateway.lines) {
      if (l.result === 'ok') up.add(l.instance);
      else if (l.reason !== undefined) up.delete(l.instance);
    }
    return up.size;
  };
  const deadline = performance.now() + timeoutMs;
  while (running() > 0 && performance.now() < deadline) await sleep(100);
  return running();
}

export function renderChurn(r: ChurnResult): string[] {
  const g = r.gateway;
  const l = r.latencyMs;
  const row = (name: string, s: ProcSnapshot): string[] => [name, mb(s.rssBytes), String(s.fds), mb(s.rssBytes - g.start.rssBytes), String(s.fds - g.start.fds)];
  return [
    `### Idle churn: ${r.apps} apps, idleTimeout ${r.idleTimeoutMs} ms, each revisited every ${r.revisitMs} ms, ${r.concurrency} in flight, ${ms(r.durationMs / 1000)} s`,
    markdownTable(
      ['measure', 'value'],
      [
        ['requests (answered by a new instance) of planned', `${r.requests} (${r.newInstanceRequests}) of ${r.plannedRequests}`],
        ['revisit interval achieved, ms', ms(r.achievedRevisitMs)],
        ['cold starts logged', `${r.coldStarts} (${breakdown(r.coldStartResults)})`],
        ['sustained cold starts / s', r.coldStartsPerSec.toFixed(1)],
        ['instance exits', breakdown(r.exitReasons)],
        ['errors', `${r.errors}: ${breakdown(r.errorBreakdown)}`],
        ['latency p50 / p99 / max, ms (send → headers)', `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}`],
        ['gateway log firstByteMs p50 / p99', `${ms(r.loggedFirstByteMs.p50)} / ${ms(r.loggedFirstByteMs.p99)}`],
        ['gateway warnings', breakdown(r.gatewayWarnings)],
      ],
    ),
    markdownTable(
      ['gateway', 'RSS MB', 'fds', 'Δ RSS MB vs start', 'Δ fds vs start'],
      [
        row('fresh (no request yet)', g.fresh),
        row('start (after 1 warm-up round)', g.start),
        row('end of window', g.end),
        row(`all idle (${g.stillRunning} still running)`, g.idle),
      ],
    ),
  ];
}
