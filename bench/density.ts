/**
 * What an idle tenant costs the gateway: RSS, fds, start-up, reload and /metrics with K configured apps and
 * none running, against the same gateway with 0 apps measured in the same run. Then, on the smallest K, what
 * a *running* app adds to the gateway itself (its child handle, pipes, pidfd and upstream pool), not the
 * app's own memory. Each app holds a listening socket: a K the open-file limit cannot hold is reported as
 * skipped (with the limit), and the largest K it can hold is measured instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';
import { breakdown, tally, timedGet } from './herd.js';
import { kb, markdownTable, mb, ms, ratio } from './stats.js';

export interface DensityOptions {
  /** Picks the defaults below: [100] apps and 5 running when quick, [1000, 10000, 100000] and 50 otherwise. */
  readonly quick?: boolean;
  readonly appCounts?: readonly number[];
  /** Wait after "listening" before reading RSS, so start-up garbage has a chance to be collected. */
  readonly settleMs?: number;
  /**
   * Idle time after the scrapes before the settled reading: V8's memory reducer gives back the young
   * generation that start-up or a scrape grew (16 MB at 10,000 apps; a 19,000-app scrape peaks 120 MB
   * above the idle RSS) only after 25 to 40 s of quiet (seen at 10,000 and 19,000 apps; 10 s with none).
   * 60 s by default, 2 s when quick.
   */
  readonly settledMs?: number;
  /** Apps woken on the gateway with the smallest K; 0 skips that part. */
  readonly runningApps?: number;
}

export interface ProcSnapshot {
  readonly rssBytes: number;
  /** Peak RSS: config validation of many apps can spike above the settled value. */
  readonly hwmBytes: number;
  readonly fds: number;
}

export interface DensityPoint extends ProcSnapshot {
  readonly apps: number;
  /** Spawn of `wakegate run` to its "wakegate listening" line. */
  readonly startupMs: number;
  /** GET /metrics (admin), the first scrape and the next one, with the second's size. */
  readonly metrics: { readonly firstMs: number; readonly ms: number; readonly bytes: number; readonly lines: number };
  /** The gateway after those scrapes: the series they made are part of what an app costs. */
  readonly scraped: ProcSnapshot;
  /** The same gateway `settledMs` later, having been idle since: what an idle app costs in the steady state. */
  readonly settled: ProcSnapshot;
  /** SIGHUP to its "config reloaded" line: the same file, then one app changed and one added. */
  readonly reloadSameMs: number;
  readonly reloadChangedMs: number;
}

/** An app count the open-file limit cannot hold here. */
export interface SkippedPoint {
  readonly apps: number;
  readonly fdsNeeded: number;
  readonly hardLimit: number;
}

export interface RunningPoint {
  readonly configured: number;
  readonly running: number;
  /** Gateway after the requests plus 1 s, against the same gateway just before them. */
  readonly idle: ProcSnapshot;
  readonly after: ProcSnapshot;
  readonly perRunningAppBytes: number;
  readonly perRunningAppFds: number;
  readonly errors: Record<string, number>;
}

export interface DensityResult {
  readonly settleMs: number;
  readonly settledMs: number;
  readonly baseline: DensityPoint;
  readonly points: ReadonlyArray<DensityPoint & { readonly perAppBytes: number; readonly perAppFds: number; readonly perAppScrapedBytes: number; readonly perAppSettledBytes: number }>;
  readonly skipped: readonly SkippedPoint[];
  readonly running?: RunningPoint;
}

const RUN_BATCH = 10;
const RUN_SETTLE_MS = 1000;
/** The gateway's own fds (stdio, epoll, listeners, the runtime dir) and the running apps', besides one per app. */
const FD_HEADROOM = 512;
/** Start-up, a reload and a scrape of 100,000 apps take seconds; these only bound a hung gateway. */
const SLOW_MS = 120_000;
const ADMIN = { admin: { listen: '127.0.0.1:0' } };
/**
 * The runtimeDir on tmpfs, as /run/wakegate is in production: on a disk file system each socket file is a
 * journalled inode, and binding 10,000 of them measured the disk (1 ms each on this VM's ext4 at times).
 */
const TMPFS = '/dev/shm';

export async function density(opts: DensityOptions): Promise<DensityResult> {
  const hardLimit = openFileHardLimit();
  const fits = (k: number): boolean => k + FD_HEADROOM <= hardLimit;
  const asked = opts.appCounts ?? (opts.quick ? [100] : [1000, 10000, 100000]);
  const skipped = asked.filter((k) => !fits(k)).map((k) => ({ apps: k, fdsNeeded: k + FD_HEADROOM, hardLimit }));
  // The largest count this machine can hold stands in for those it cannot, so the trend is still measured.
  const largest = Math.floor((hardLimit - FD_HEADROOM) / 1000) * 1000;
  const appCounts = [...new Set([...asked.filter(fits), ...(skipped.length > 0 && largest > 0 ? [largest] : [])])].sort((a, b) => a - b);
  const settleMs = opts.settleMs ?? 1000;
  const settledMs = opts.settledMs ?? (opts.quick ? 2000 : 60_000);
  const runningApps = opts.runningApps ?? (opts.quick ? 5 : 50);
  const runningOn = Math.min(...appCounts.filter((k) => k >= runningApps));
  const nofile = Math.min(hardLimit, Math.max(...appCounts, 0) + FD_HEADROOM);
  const baseline = (await measure(0, settleMs, settledMs, 0, nofile)).point;
  const points = [];
  let running: RunningPoint | undefined;
  for (const k of appCounts) {
    const m = await measure(k, settleMs, settledMs, runningApps > 0 && k === runningOn ? runningApps : 0, nofile);
    const p = m.point;
    points.push({
      ...p,
      perAppBytes: (p.rssBytes - baseline.rssBytes) / k,
      perAppFds: (p.fds - baseline.fds) / k,
      perAppScrapedBytes: (p.scraped.rssBytes - baseline.scraped.rssBytes) / k,
      perAppSettledBytes: (p.settled.rssBytes - baseline.settled.rssBytes) / k,
    });
    running ??= m.running;
  }
  return { settleMs, settledMs, baseline, points, skipped, ...(running && { running }) };
}

async function measure(apps: number, settleMs: number, settledMs: number, wake: number, nofile: number): Promise<{ point: DensityPoint; running?: RunningPoint }> {
  const config = appsConfig(apps);
  const gateway = GatewayProcess.start(config, ADMIN, { nofile, ...(existsSync(TMPFS) && { tmp: TMPFS }) });
  const agent = new Agent({ connections: RUN_BATCH });
  try {
    const { port, startupMs } = await gateway.ready(SLOW_MS);
    const { line } = await gateway.waitFor((l) => l.msg === 'admin listening', 0, SLOW_MS);
    await sleep(settleMs);
    const idle = procSnapshot(gateway.pid);
    const metrics = await scrapeTwice(`http://127.0.0.1:${(line.address as { port: number }).port}/metrics`);
    const scraped = procSnapshot(gateway.pid);
    await sleep(settledMs);
    const settled = procSnapshot(gateway.pid);
    const reloadSameMs = await reload(gateway);
    // One app changed (a new idle timeout) and one added: what an operator's edit costs.
    const changed: Record<string, unknown> = { ...config, [`app${apps}`]: appSpec(apps) };
    if (apps > 0) changed.app0 = { ...appSpec(0), idleTimeout: '7m' };
    gateway.rewrite(changed, ADMIN);
    const reloadChangedMs = await reload(gateway);
    const point = { apps, startupMs, ...idle, metrics, scraped, settled, reloadSameMs, reloadChangedMs };
    if (wake === 0) return { point };
    const origin = `http://127.0.0.1:${port}`;
    const errors: Array<string | undefined> = [];
    for (let i = 0; i < wake; i += RUN_BATCH) {
      const batch = Array.from({ length: Math.min(RUN_BATCH, wake - i) }, (_, j) => timedGet(agent, origin, `app${i + j}.localhost`));
      for (const o of await Promise.all(batch)) errors.push(o.error);
    }
    // Our own keep-alive connections to the front port would count as gateway fds: close them first. The
    // gateway's upstream keep-alive is 4 s, so its pool connection stays open: part of a running app's cost.
    await agent.close();
    await sleep(RUN_SETTLE_MS);
    const after = procSnapshot(gateway.pid);
    const running = {
      configured: apps,
      running: wake,
      idle,
      after,
      perRunningAppBytes: (after.rssBytes - idle.rssBytes) / wake,
      perRunningAppFds: (after.fds - idle.fds) / wake,
      errors: tally(errors),
    };
    return { point, running };
  } finally {
    await agent.destroy().catch(() => {});
    await gateway.stop();
  }
}

/** SIGHUP, then the time to the gateway's next "config reloaded" line. */
async function reload(gateway: GatewayProcess): Promise<number> {
  const from = gateway.lines.length;
  const sent = performance.now();
  gateway.signal('SIGHUP');
  await gateway.waitFor((l) => l.msg === 'config reloaded', from, SLOW_MS);
  return performance.now() - sent;
}

/** The first scrape creates what it creates; the second is what Prometheus sees every interval after. */
async function scrapeTwice(url: string): Promise<DensityPoint['metrics']> {
  const once = async (): Promise<{ ms: number; text: string }> => {
    const started = performance.now();
    const res = await fetch(url);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
    return { ms: performance.now() - started, text };
  };
  const first = await once();
  const second = await once();
  return { firstMs: first.ms, ms: second.ms, bytes: Buffer.byteLength(second.text), lines: second.text.split('\n').filter((l) => l !== '').length };
}

/** RLIMIT_NOFILE's hard limit of this process, which a child may raise its soft limit to (no CAP_SYS_RESOURCE needed). */
function openFileHardLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const hard = line?.slice('Max open files'.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(hard);
}

/** The gateway's RSS, peak RSS and open fds, as the kernel reports them. */
export function procSnapshot(pid: number): ProcSnapshot {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    rssBytes: statusKb(status, 'VmRSS') * 1024,
    hwmBytes: statusKb(status, 'VmHWM') * 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/** Every app shares one directory: only the gateway's per-app state is measured, not the disk. */
function appsConfig(count: number): Record<string, unknown> {
  const apps: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) apps[`app${i}`] = appSpec(i);
  return apps;
}

function appSpec(i: number): Record<string, unknown> {
  return { hosts: [`app${i}.localhost`], command: [process.execPath, 'server.mjs'], dir: HELLO_DIR, runtime: 'process' };
}

function statusKb(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${key} in /proc/<pid>/status`);
  return Number(m[1]);
}

export function renderDensity(d: DensityResult): string[] {
  const b = d.baseline;
  const sections = [
    `### Density: configured apps, none running (RSS ${d.settleMs} ms after start-up; right after 2 scrapes; settled: ${d.settledMs / 1000} s idle after them)`,
    markdownTable(
      ['apps', 'start-up ms', 'reload ms (same, changed)', 'RSS MB', 'peak RSS MB', 'settled RSS MB', 'fds', 'per app KB', 'per app KB after scrapes', 'per app KB settled', 'per app fds'],
      [
        [`${b.apps} (baseline)`, ms(b.startupMs), `${ms(b.reloadSameMs)}, ${ms(b.reloadChangedMs)}`, mb(b.rssBytes), mb(b.hwmBytes), mb(b.settled.rssBytes), String(b.fds), '-', '-', '-', '-'],
        ...d.points.map((p) => [
          String(p.apps),
          ms(p.startupMs),
          `${ms(p.reloadSameMs)}, ${ms(p.reloadChangedMs)}`,
          mb(p.rssBytes),
          mb(p.hwmBytes),
          mb(p.settled.rssBytes),
          String(p.fds),
          kb(p.perAppBytes),
          kb(p.perAppScrapedBytes),
          kb(p.perAppSettledBytes),
          p.perAppFds.toFixed(2),
        ]),
        ...d.skipped.map((s) => [String(s.apps), `skipped: needs ${s.fdsNeeded} fds, RLIMIT_NOFILE hard limit is ${s.hardLimit}`, '-', '-', '-', '-', '-', '-', '-', '-', '-']),
      ],
    ),
    '### Density: GET /metrics (admin) with K idle apps',
    markdownTable(
      ['apps', 'first scrape ms', 'scrape ms', 'bytes', 'lines'],
      [b, ...d.points].map((p) => [String(p.apps), ms(p.metrics.firstMs), ms(p.metrics.ms), String(p.metrics.bytes), String(p.metrics.lines)]),
    ),
  ];
  const r = d.running;
  if (r) {
    sections.push(
      `### Density: ${r.running} of ${r.configured} apps running (gateway only, ${RUN_SETTLE_MS} ms after one request each)`,
      markdownTable(
        ['gateway', 'RSS MB', 'fds'],
        [
          ['none running', mb(r.idle.rssBytes), String(r.idle.fds)],
          [`${r.running} running`, mb(r.after.rssBytes), String(r.after.fds)],
          ['per running app', `${kb(r.perRunningAppBytes)} KB`, r.perRunningAppFds.toFixed(2)],
        ],
      ),
      `Request errors while waking them: ${breakdown(r.errors)}.`,
    );
  }
  return sections;
}

/** The summary's density rows: the largest K measured, beside the 0-app gateway of the same run. */
export function densitySummaryRows(d: DensityResult): string[][] {
  const b = d.baseline;
  const big = d.points[d.points.length - 1];
  if (!big) return [];
  const rows = [
    [`density: settled RSS with ${big.apps} idle apps (MB)`, mb(big.settled.rssBytes), `${mb(b.settled.rssBytes)} (0 apps)`, ratio(big.settled.rssBytes, b.settled.rssBytes)],
    [`density: KB per idle app at ${big.apps}: settled, at start-up, after 2 scrapes`, `${kb(big.perAppSettledBytes)}, ${kb(big.perAppBytes)}, ${kb(big.perAppScrapedBytes)}`, '-', '-'],
    [`density: start-up, reload same / changed with ${big.apps} apps (ms)`, `${ms(big.startupMs)}, ${ms(big.reloadSameMs)} / ${ms(big.reloadChangedMs)}`, `${ms(b.startupMs)}, ${ms(b.reloadSameMs)} / ${ms(b.reloadChangedMs)} (0 apps)`, ratio(big.startupMs, b.startupMs)],
  ];
  const tenK = d.points.find((p) => p.apps === 10_000) ?? big;
  rows.push([`density: /metrics with ${tenK.apps} apps, first / next scrape (ms), MB`, `${ms(tenK.metrics.firstMs)} / ${ms(tenK.metrics.ms)}, ${mb(tenK.metrics.bytes)}`, `${ms(b.metrics.firstMs)} / ${ms(b.metrics.ms)} (0 apps)`, ratio(tenK.metrics.firstMs, b.metrics.firstMs)]);
  for (const s of d.skipped) rows.push([`density: ${s.apps} apps`, `skipped: needs ${s.fdsNeeded} fds`, `RLIMIT_NOFILE hard limit ${s.hardLimit}`, '-']);
  return rows;
}
