/**
 * L7 throughput: the same app served directly and through wakegate, nginx, HAProxy and http-proxy (what a
 * Node user would pick instead), each loaded by wrk at c=1 and c=50 in the same run, with the proxy's CPU
 * per request read from /proc. The app is already running on every path, so this is the steady-state cost
 * of the L7 proxy, not of activation.
 *
 * wrk runs on a CPU of its own and everything it loads on the other (taskset); every path is measured once
 * per round, odd rounds in reverse order (A B C, C B A, ...), so that a drift in the machine's load lands on
 * every path alike; each path is compared with direct round by round, and the medians are the headline.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { closeFd } from '../src/native/index.js';
import { HELLO_DIR, ROOT } from './gateway-process.js';
import { haproxyBinary } from './haproxy.js';
import { appCommand, opener, PATHS, type PathSpec, type ProxyKind, type Target } from './l7-paths.js';
import { nginxBinary } from './nginx.js';
import { clockTicksPerS, cpuTicks, pin, pinning } from './proc-cpu.js';
import { median } from './socket-throughput.js';
import { throughputGoals, type Goal } from './throughput-goals.js';
import { toolVersion, untilServed, wrk, type WrkResult } from './wrk.js';

export type LoadName = 'c50' | 'c1';
/** The order within a round: c=50 right after the warm-up, which is at c=50 too. */
export const LOADS: ReadonlyArray<{ readonly name: LoadName; readonly connections: number }> = [
  { name: 'c50', connections: 50 },
  { name: 'c1', connections: 1 },
];

/** One wrk run on one path at one load, with the CPU the proxy's processes and the app used over it (ticks). */
export interface L7Run {
  readonly wrk: WrkResult;
  /** Null on direct, where there is no proxy. */
  readonly proxyTicks: number | null;
  readonly appTicks: number;
}

export interface LoadResult {
  /** One per round, in round order. */
  readonly runs: readonly L7Run[];
  /** Medians over the runs: robust to a burst of load from elsewhere on a shared host. */
  readonly reqPerSec: number;
  readonly latencyUs: { readonly p50: number; readonly p99: number };
  readonly errors: number;
  /** Over all runs: the proxy's processes' utime+stime / requests (nginx: master and worker). */
  readonly proxyCpuUsPerRequest: number | null;
  readonly appCpuUsPerRequest: number;
  /** Round by round, this path's req/s over direct's in the same round (null on direct, or without direct). */
  readonly pairedVsDirect: readonly number[] | null;
  /** Round by round, this path's p50 minus direct's in the same round, µs. */
  readonly p50AddedUs: readonly number[] | null;
}

export type PathResult =
  | { readonly status: 'ok'; readonly loads: Readonly<Record<LoadName, LoadResult>> }
  | { readonly status: 'absent'; readonly missing: string }
  | { readonly status: 'failed'; readonly error: string };

export interface PathEntry {
  readonly id: string;
  readonly kind: ProxyKind;
  readonly label: string;
  readonly result: PathResult;
}

export interface ThroughputApp {
  readonly name: string;
  readonly file: string;
  readonly paths: readonly PathEntry[];
}

export interface ThroughputResult {
  readonly quick: boolean;
  readonly durationS: number;
  /** 0: no warm-up (quick mode). */
  readonly warmupS: number;
  readonly rounds: number;
  readonly threads: number;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly clockTicksPerS: number;
  readonly pinned: { readonly wrk: string; readonly targets: string } | null;
  readonly tools: { readonly wrk: string; readonly nginx: string; readonly haproxy: string; readonly httpProxy: string; readonly node: string };
  readonly apps: readonly ThroughputApp[];
  /** Rows the issue asks for that cannot be measured yet, and why. */
  /** Issue 13's goals against the first app's numbers, as facts: nothing fails on them. */
  readonly goals: readonly Goal[];
  /** Others' load skews every number here; the 1-minute load average at start and end shows if there was any. */
  readonly loadAverage1m: { readonly before: number; readonly after: number };
  readonly wallMs: number;
}

const APPS = [
  { name: 'hello world', file: join(HELLO_DIR, 'server.mjs') },
  { name: '~1 ms CPU per request', file: join(ROOT, 'bench/apps/cpu-1ms.mjs') },
] as const;
const THREADS = 1;

/**
 * `pin: false` (BENCH_PIN=0) lets wrk, the proxies and the app share every CPU, as issue 13's first
 * table was measured; pinned, a path's ratio to direct is the share of one CPU its proxy leaves the app.
 */
export async function throughput(opts: { readonly quick: boolean; readonly pin?: boolean }): Promise<ThroughputResult> {
  const t0 = Date.now();
  const loadBefore = os.loadavg()[0]!;
  // Short runs, several rounds: on a shared host another tenant's burst then spoils one run, not a path.
  const durationS = opts.quick ? 1 : 3;
  const warmupS = opts.quick ? 0 : 1;
  const rounds = opts.quick ? 1 : 4;
  const cpus = os.availableParallelism();
  const pinned = opts.pin === false ? null : pinning(cpus);
  const tools = {
    wrk: toolVersion('wrk', ['-v']),
    nginx: toolVersion(nginxBinary(), ['-v']),
    haproxy: toolVersion(haproxyBinary(), ['-v']),
    httpProxy: httpProxyVersion(),
    node: process.version,
  };
  const hz = clockTicksPerS();
  // What each path needs beyond wrk, by the name the table shows when it is missing.
  const needs: Partial<Record<ProxyKind, [string, string]>> = { nginx: [tools.nginx, 'nginx'], haproxy: [tools.haproxy, 'haproxy'], 'http-proxy': [tools.httpProxy, 'the http-proxy package'] };
  const missing = (kind: ProxyKind): string | undefined => {
    const need = needs[kind];
    return tools.wrk === 'absent' ? 'wrk' : need?.[0] === 'absent' ? need[1] : undefined;
  };
  const measure = measurer({ durationS, warmupS, hz, pinned });
  const apps: ThroughputApp[] = [];
  for (const app of APPS) apps.push({ name: app.name, file: app.file.slice(ROOT.length), paths: await measureApp(app.file, rounds, missing, measure, hz) });
  const common = { quick: opts.quick, durationS, warmupS, rounds, threads: THREADS, cpus, cpuModel: os.cpus()[0]?.model ?? 'unknown', clockTicksPerS: hz, pinned, tools };
  const goals = throughputGoals(apps[0]!);
  return { ...common, apps, goals, loadAverage1m: { before: loadBefore, after: os.loadavg()[0]! }, wallMs: Date.now() - t0 };
}

type Measure = (target: Target, connections: number, warm: boolean) => Promise<L7Run>;

async function measureApp(file: string, rounds: number, missing: (kind: ProxyKind) => string | undefined, measure: Measure, hz: number): Promise<PathEntry[]> {
  const ctx = { dir: mkdtempSync(join(os.tmpdir(), 'wg-bench-l7-')), devNull: openSync('/dev/null', 'r+'), fds: [] as number[], stops: [] as Array<() => Promise<unknown>>, ...appCommand(file) };
  const failed = new Map<string, PathResult>();
  const runs = new Map<string, Record<LoadName, L7Run[]>>(PATHS.map((p) => [p.id, { c50: [], c1: [] }]));
  try {
    const open = opener(ctx);
    const ready = new Map<string, Target>();
    for (let round = 0; round < rounds; round++) {
      for (const spec of round % 2 === 0 ? PATHS : [...PATHS].reverse()) {
        const absent = missing(spec.kind);
        if (absent) failed.set(spec.id, { status: 'absent', missing: absent });
        if (failed.has(spec.id)) continue;
        try {
          let target = ready.get(spec.id);
          if (!target) {
            target = await open(spec);
            // The first request wakes wakegate's app: the cold start stays outside every measurement.
            await untilServed(target.url, target.host);
            ready.set(spec.id, target);
          }
          for (const [i, load] of LOADS.entries()) runs.get(spec.id)![load.name].push(await measure(target, load.connections, i === 0));
        } catch (err) {
          // One broken path should not lose the others' numbers; the table shows the failure.
          failed.set(spec.id, { status: 'failed', error: err instanceof Error ? err.message : String(err) });
        }
      }
    }
  } finally {
    for (const stop of ctx.stops.reverse()) await stop().catch(() => {});
    for (const fd of ctx.fds) closeFd(fd);
    closeSync(ctx.devNull);
    rmSync(ctx.dir, { recursive: true, force: true });
  }
  const direct = failed.has('direct') ? undefined : runs.get('direct')!;
  return PATHS.map((spec: PathSpec): PathEntry => {
    const r = runs.get(spec.id)!;
    const result: PathResult = failed.get(spec.id) ?? {
      status: 'ok',
      loads: { c50: aggregate(r.c50, spec.id === 'direct' ? undefined : direct?.c50, hz), c1: aggregate(r.c1, spec.id === 'direct' ? undefined : direct?.c1, hz) },
    };
    return { id: spec.id, kind: spec.kind, label: spec.label, result };
  });
}

function measurer(o: { durationS: number; warmupS: number; hz: number; pinned: ThroughputResult['pinned'] }): Measure {
  return async (target, connections, warm) => {
    const run = (s: number, c: number): Promise<WrkResult> =>
      wrk({ url: target.url, durationS: s, threads: THREADS, connections: c, headers: target.host ? [`Host: ${target.host}`] : [], ...(o.pinned && { cpus: o.pinned.wrk }) });
    if (o.pinned) pin([target.appPid(), ...target.proxyPids()], o.pinned.targets);
    if (warm && o.warmupS > 0) await run(o.warmupS, 50);
    const proxy0 = cpuTicks(target.proxyPids());
    const app0 = cpuTicks([target.appPid()]);
    const w = await run(o.durationS, connections);
    const proxyTicks = target.proxyPids().length > 0 ? cpuTicks(target.proxyPids()) - proxy0 : null;
    return { wrk: w, proxyTicks, appTicks: cpuTicks([target.appPid()]) - app0 };
  };
}

function aggregate(runs: readonly L7Run[], direct: readonly L7Run[] | undefined, hz: number): LoadResult {
  const requests = runs.reduce((n, r) => n + r.wrk.requests, 0);
  const perRequest = (ticks: number): number => (ticks * 1e6) / hz / requests;
  const errors = runs.reduce((n, { wrk: w }) => n + w.non2xx3xx + w.socketErrors.connect + w.socketErrors.read + w.socketErrors.write + w.socketErrors.timeout, 0);
  const proxy = runs.every((r) => r.proxyTicks !== null) ? perRequest(runs.reduce((n, r) => n + r.proxyTicks!, 0)) : null;
  const paired = <T>(f: (ours: WrkResult, base: WrkResult) => T): T[] | null => (direct && direct.length === runs.length ? runs.map((r, i) => f(r.wrk, direct[i]!.wrk)) : null);
  return {
    runs,
    reqPerSec: median(runs.map((r) => r.wrk.reqPerSec)),
    latencyUs: { p50: median(runs.map((r) => r.wrk.latencyUs.p50)), p99: median(runs.map((r) => r.wrk.latencyUs.p99)) },
    errors,
    proxyCpuUsPerRequest: proxy,
    appCpuUsPerRequest: perRequest(runs.reduce((n, r) => n + r.appTicks, 0)),
    pairedVsDirect: paired((a, b) => a.reqPerSec / b.reqPerSec),
    p50AddedUs: paired((a, b) => a.latencyUs.p50 - b.latencyUs.p50),
  };
}

/** The installed http-proxy's version, or 'absent' (it is a devDependency: a production install has none). */
function httpProxyVersion(): string {
  try {
    return `http-proxy ${(createRequire(import.meta.url)('http-proxy/package.json') as { version: string }).version}`;
  } catch {
    return 'absent';
  }
}
