/**
 * Issue 16's bench: what a wakegate behind HAProxy costs over HAProxy serving the app itself. Both paths
 * serve the same running app (examples/hello): HAProxy → the app's socket (the L7 bench's HAProxy row),
 * and HAProxy on the config `wakegate haproxy-config` derives → one wakegate → the app. wrk loads each at
 * c=1 and c=50, paths alternating round by round; the ratio and the added latency are paired per round.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../src/config/schema.js';
import { haproxyConfig } from '../src/haproxy-config.js';
import { closeFd } from '../src/native/index.js';
import { HELLO_DIR } from './gateway-process.js';
import { Haproxy, haproxyBinary } from './haproxy.js';
import { appCommand, opener, type PathContext, type Target } from './l7-paths.js';
import { pin, pinning } from './proc-cpu.js';
import { median } from './socket-throughput.js';
import { markdownTable } from './stats.js';
import { freePort, toolVersion, untilServed, wrk, type WrkResult } from './wrk.js';

const LOADS = [50, 1] as const;
const HOST = 'hello.localhost';

export interface TierLoad {
  readonly connections: number;
  /** Per round, in round order. */
  readonly direct: readonly WrkResult[];
  readonly tier: readonly WrkResult[];
  /** Round by round: tier req/s over direct's, and the tier's p50 and p99 minus direct's (µs). */
  readonly ratio: readonly number[];
  readonly p50AddedUs: readonly number[];
  readonly p99AddedUs: readonly number[];
  readonly errors: number;
}

export type HaproxyTierResult =
  | { readonly status: 'ok'; readonly durationS: number; readonly rounds: number; readonly pinned: ReturnType<typeof pinning>; readonly haproxy: string; readonly loads: readonly TierLoad[] }
  | { readonly status: 'absent'; readonly missing: string };

/** `pin: false` (BENCH_PIN=0): wrk, HAProxy, the gateway and the app share every CPU, as in the L7 bench. */
export async function haproxyTier(opts: { readonly quick: boolean; readonly pin?: boolean }): Promise<HaproxyTierResult> {
  const haproxy = toolVersion(haproxyBinary(), ['-v']);
  if (haproxy === 'absent' || toolVersion('wrk', ['-v']) === 'absent') return { status: 'absent', missing: haproxy === 'absent' ? 'haproxy' : 'wrk' };
  const durationS = opts.quick ? 1 : 3;
  const rounds = opts.quick ? 1 : 4;
  const pinned = opts.pin === false ? null : pinning(os.availableParallelism());
  const ctx: PathContext = { dir: mkdtempSync(join(os.tmpdir(), 'wg-bench-tier-')), devNull: openSync('/dev/null', 'r+'), fds: [], stops: [], ...appCommand(join(HELLO_DIR, 'server.mjs')) };
  try {
    const open = opener(ctx);
    const direct = await open({ id: 'haproxy', kind: 'haproxy', label: 'HAProxy → app' });
    const tier = await openTier(ctx, open);
    for (const target of [direct, tier]) await untilServed(target.url, target.host);
    const runs = new Map<number, { direct: WrkResult[]; tier: WrkResult[] }>(LOADS.map((c) => [c, { direct: [], tier: [] }]));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['direct', 'tier'] as const) : (['tier', 'direct'] as const);
      for (const which of order) {
        const target = which === 'direct' ? direct : tier;
        if (pinned) pin([target.appPid(), ...target.proxyPids()], pinned.targets);
        const run = (s: number, c: number): Promise<WrkResult> => wrk({ url: target.url, durationS: s, threads: 1, connections: c, headers: target.host ? [`Host: ${target.host}`] : [], ...(pinned && { cpus: pinned.wrk }) });
        if (round < 2 && !opts.quick) await run(1, 50);
        for (const c of LOADS) runs.get(c)![which].push(await run(durationS, c));
      }
    }
    const loads = LOADS.map((connections): TierLoad => {
      const r = runs.get(connections)!;
      const errors = [...r.direct, ...r.tier].reduce((n, w) => n + w.non2xx3xx + w.socketErrors.connect + w.socketErrors.read + w.socketErrors.write + w.socketErrors.timeout, 0);
      return {
        connections,
        ...r,
        ratio: r.tier.map((w, i) => w.reqPerSec / r.direct[i]!.reqPerSec),
        p50AddedUs: r.tier.map((w, i) => w.latencyUs.p50 - r.direct[i]!.latencyUs.p50),
        p99AddedUs: r.tier.map((w, i) => w.latencyUs.p99 - r.direct[i]!.latencyUs.p99),
        errors,
      };
    });
    return { status: 'ok', durationS, rounds, pinned, haproxy, loads };
  } finally {
    for (const stop of ctx.stops.reverse()) await stop().catch(() => {});
    for (const fd of ctx.fds) closeFd(fd);
    closeSync(ctx.devNull);
    rmSync(ctx.dir, { recursive: true, force: true });
  }
}

/** One wakegate with an admin listener, and HAProxy on the config derived from it, as the README says to run it. */
async function openTier(ctx: PathContext, open: ReturnType<typeof opener>): Promise<Target> {
  const adminPort = await freePort();
  const gateway = await open({ id: 'wakegate', kind: 'wakegate', label: 'wakegate', config: { admin: { listen: `127.0.0.1:${adminPort}` } } });
  const port = Number(new URL(gateway.url).port);
  // The same app and admin as the gateway's config, so the derived file is what the command would print for it.
  const doc = { listen: { http: `127.0.0.1:${port}` }, admin: { listen: `127.0.0.1:${adminPort}` }, apps: { hello: { hosts: [HOST], command: [...ctx.command], dir: ctx.appDir, runtime: 'process' } } };
  const front = await freePort();
  const derived = haproxyConfig(validateConfig(doc, join(ctx.dir, 'tier.json')), { servers: [`127.0.0.1:${port}`], bind: `127.0.0.1:${front}` });
  // One thread, as the direct path's HAProxy runs: the two differ by the hop, not by HAProxy's threads.
  const haproxy = await Haproxy.run(ctx.dir, `global\n  nbthread 1\n  maxconn 4096\n${derived}`, front);
  ctx.stops.push(() => haproxy.stop());
  return { url: `http://127.0.0.1:${front}/`, host: HOST, proxyPids: () => [haproxy.pid, ...gateway.proxyPids()], appPid: gateway.appPid };
}

export function renderHaproxyTier(r: HaproxyTierResult): string[] {
  if (r.status === 'absent') return ['### HAProxy tier', `Not measured: ${r.missing} is not installed.`];
  const us = (v: number): string => `${(v / 1000).toFixed(3)}`;
  const added = (v: number): string => `${v >= 0 ? '+' : ''}${us(v)}`;
  const rows = r.loads.map((l) => [
    `c=${l.connections}`,
    median(l.direct.map((w) => w.reqPerSec)).toFixed(0),
    median(l.tier.map((w) => w.reqPerSec)).toFixed(0),
    `${median(l.ratio).toFixed(2)}x`,
    `${us(median(l.direct.map((w) => w.latencyUs.p50)))} / ${us(median(l.tier.map((w) => w.latencyUs.p50)))}`,
    added(median(l.p50AddedUs)),
    `${us(median(l.direct.map((w) => w.latencyUs.p99)))} / ${us(median(l.tier.map((w) => w.latencyUs.p99)))}`,
    added(median(l.p99AddedUs)),
    String(l.errors),
  ]);
  return [
    '### HAProxy tier',
    `HAProxy → app against HAProxy → wakegate → app (the derived config), examples/hello running, wrk -t1, ${r.rounds} rounds of ${r.durationS} s per load, medians; ratios and added latency paired per round${r.pinned ? `; wrk on CPU ${r.pinned.wrk}, the rest on CPU ${r.pinned.targets}` : '; unpinned'}. ${r.haproxy.replace(/ - https.*$/, '')}.`,
    markdownTable(['load', 'req/s HAProxy → app', 'req/s via wakegate', 'ratio', 'p50 ms (app / via wakegate)', 'p50 added ms', 'p99 ms (app / via wakegate)', 'p99 added ms', 'errors'], rows),
  ];
}

export function haproxyTierSummaryRows(r: HaproxyTierResult): string[][] {
  if (r.status !== 'ok') return [];
  const rows: string[][] = [];
  for (const l of r.loads) {
    const tier = median(l.tier.map((w) => w.reqPerSec));
    const direct = median(l.direct.map((w) => w.reqPerSec));
    rows.push([`HAProxy tier c=${l.connections}: via wakegate (req/s)`, tier.toFixed(0), `${direct.toFixed(0)} (HAProxy → app)`, `${median(l.ratio).toFixed(2)}x paired`]);
  }
  const c1 = r.loads.find((l) => l.connections === 1);
  if (c1) rows.push(['HAProxy tier c=1: p50 added by the wakegate hop (ms)', `${median(c1.p50AddedUs) >= 0 ? '+' : ''}${(median(c1.p50AddedUs) / 1000).toFixed(3)}`, `${(median(c1.direct.map((w) => w.latencyUs.p50)) / 1000).toFixed(3)} (HAProxy → app p50)`, '-']);
  return rows;
}
