/**
 * The socket-mode scenarios of `npm run bench` (issue 10), each against its baseline in the same run:
 * warm throughput direct and behind nginx, cold start against a bare spawn, and the idle cost of many
 * sleeping apps. This file runs them in turn and gives run.ts its summary rows.
 */
import { socketColdStart, renderSocketColdStart, type SocketColdStartResult } from './socket-cold-start.js';
import { renderSocketIdle, socketIdle, type SocketIdleResult } from './socket-idle.js';
import { median, socketThroughput, SOCKET_BASELINES, type SocketThroughputResult } from './socket-throughput.js';
import { renderSocketThroughput } from './socket-throughput-report.js';
import { mb, ms, ratio } from './stats.js';

export interface SocketModeResult {
  readonly throughput: SocketThroughputResult;
  readonly coldStart: SocketColdStartResult;
  readonly idle: SocketIdleResult;
}

export async function socketMode(opts: { readonly quick: boolean; readonly runs: number; readonly runc?: string; readonly progress: (m: string) => void }): Promise<SocketModeResult> {
  opts.progress('socket mode, warm throughput (wrk): direct vs wakegate-held socket, nginx in front of each');
  const throughput = await socketThroughput({ quick: opts.quick });
  // The issue asks for 30+ cold starts in a full run; BENCH_RUNS may ask for more.
  const runs = opts.quick ? opts.runs : Math.max(30, opts.runs);
  opts.progress(`socket mode, cold start: ${runs} runs per path, bare spawn vs wakegate-held socket${opts.runc ? ', process and oci' : ''}`);
  const coldStart = await socketColdStart({ runs, warmup: 1, ...(opts.runc && { runc: opts.runc }) });
  opts.progress('socket mode, idle cost: many stopped apps vs none');
  const idle = await socketIdle({ quick: opts.quick });
  return { throughput, coldStart, idle };
}

export function renderSocketMode(r: SocketModeResult): string[] {
  return [...renderSocketThroughput(r.throughput), ...renderSocketColdStart(r.coldStart), ...renderSocketIdle(r.idle)];
}

/** The headline numbers, in the [scenario, wakegate, baseline, ratio] shape of run.ts's summary table. */
export function socketModeSummaryRows(r: SocketModeResult): string[][] {
  const rows: string[][] = [];
  const t = r.throughput.paths;
  for (const [ours, base] of SOCKET_BASELINES) {
    const a = t[ours];
    const b = t[base];
    if (a.status !== 'ok' || b.status !== 'ok') continue;
    const paired = r.throughput.pairedRatios[ours];
    const headline = paired ? `${median(paired).toFixed(2)}x paired (medians ${ratio(a.reqPerSec, b.reqPerSec)})` : ratio(a.reqPerSec, b.reqPerSec);
    rows.push([`socket mode, ${ours} (req/s; goal ≥ 0.97x)`, a.reqPerSec.toFixed(0), `${b.reqPerSec.toFixed(0)} (${base})`, headline]);
    if (ours === 'socket' && a.gatewayCpuUsPerRequest !== null) rows.push([`socket mode, gateway CPU per request (µs)`, a.gatewayCpuUsPerRequest.toFixed(2), '-', '-']);
  }
  const cold = new Map(r.coldStart.paths.map((p) => [p.path, p.summary]));
  for (const o of r.coldStart.overheads) {
    const [a, b] = [cold.get(o.path)!, cold.get(o.over)!];
    rows.push([`socket mode, cold start p50, ${o.path} (ms; goal ≤ bare + 2)`, ms(a.p50), `${ms(b.p50)} (${o.over})`, `${ratio(a.p50, b.p50)}, Δ ${ms(o.p50Ms)} ms`]);
  }
  const i = r.idle;
  rows.push([
    `socket mode, ${i.idle.apps} stopped apps: gateway CPU %, RSS MB`,
    `${i.idle.cpuPercent.toFixed(2)}, ${mb(i.idle.rssBytes)}`,
    `${i.baseline.cpuPercent.toFixed(2)}, ${mb(i.baseline.rssBytes)} (0 apps)`,
    ratio(i.idle.rssBytes, i.baseline.rssBytes),
  ]);
  if (i.running) rows.push([`socket mode, ${i.running.running} of ${i.running.apps} running: gateway CPU %`, i.running.cpuPercent.toFixed(2), `${i.idle.cpuPercent.toFixed(2)} (none running)`, '-']);
  return rows;
}
