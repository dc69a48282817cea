/**
 * What an idle tenant costs the gateway: RSS, fds and start-up time with K configured apps and none
 * running, against the same gateway with 0 apps measured in the same run. Then, on the smallest K, what
 * a *running* app adds to the gateway itself (its child handle, pipes, pidfd and upstream pool), not the
 * app's own memory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';
import { breakdown, tally, timedGet } from './herd.js';
import { kb, markdownTable, mb, ms } from './stats.js';

export interface DensityOptions {
  /** Picks the defaults below: [100] apps and 5 running when quick, [1000, 10000] and 50 otherwise. */
  readonly quick?: boolean;
  readonly appCounts?: readonly number[];
  /** Wait after "listening" before reading RSS, so start-up garbage has a chance to be collected. */
  readonly settleMs?: number;
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
  readonly baseline: DensityPoint;
  readonly points: ReadonlyArray<DensityPoint & { readonly perAppBytes: number; readonly perAppFds: number }>;
  readonly running?: RunningPoint;
}

const RUN_BATCH = 10;
const RUN_SETTLE_MS = 1000;

export async function density(opts: DensityOptions): Promise<DensityResult> {
  const appCounts = opts.appCounts ?? (opts.quick ? [100] : [1000, 10000]);
  const settleMs = opts.settleMs ?? 1000;
  const runningApps = opts.runningApps ?? (opts.quick ? 5 : 50);
  const runningOn = Math.min(...appCounts.filter((k) => k >= runningApps));
  const baseline = (await measure(0, settleMs, 0)).point;
  const points = [];
  let running: RunningPoint | undefined;
  for (const k of appCounts) {
    const m = await measure(k, settleMs, runningApps > 0 && k === runningOn ? runningApps : 0);
    const p = m.point;
    points.push({ ...p, perAppBytes: (p.rssBytes - baseline.rssBytes) / k, perAppFds: (p.fds - baseline.fds) / k });
    running ??= m.running;
  }
  return { settleMs, baseline, points, ...(running && { running }) };
}

async function measure(apps: number, settleMs: number, wake: number): Promise<{ point: DensityPoint; running?: RunningPoint }> {
  const gateway = GatewayProcess.start(appsConfig(apps));
  const agent = new Agent({ connections: RUN_BATCH });
  try {
    const { port, startupMs } = await gateway.ready();
    await sleep(settleMs);
    const idle = procSnapshot(gateway.pid);
    const point = { apps, startupMs, ...idle };
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
  for (let i = 0; i < count; i++) {
    apps[`app${i}`] = { hosts: [`app${i}.localhost`], command: [process.execPath, 'server.mjs'], dir: HELLO_DIR, runtime: 'process' };
  }
  return apps;
}

function statusKb(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${key} in /proc/<pid>/status`);
  return Number(m[1]);
}

export function renderDensity(d: DensityResult): string[] {
  const sections = [
    `### Density: configured apps, none running (RSS after ${d.settleMs} ms settle)`,
    markdownTable(
      ['apps', 'start-up ms', 'RSS MB', 'peak RSS MB', 'fds', 'per app KB', 'per app fds'],
      [
        [`${d.baseline.apps} (baseline)`, ms(d.baseline.startupMs), mb(d.baseline.rssBytes), mb(d.baseline.hwmBytes), String(d.baseline.fds), '-', '-'],
        ...d.points.map((p) => [String(p.apps), ms(p.startupMs), mb(p.rssBytes), mb(p.hwmBytes), String(p.fds), kb(p.perAppBytes), p.perAppFds.toFixed(2)]),
      ],
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
