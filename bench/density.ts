/**
 * What an idle tenant costs the gateway: RSS, fds and start-up time with K configured apps and none
 * running, against the same gateway with 0 apps measured in the same run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';

export interface DensityOptions {
  readonly appCounts: readonly number[];
  /** Wait after "listening" before reading RSS, so start-up garbage has a chance to be collected. */
  readonly settleMs: number;
}

export interface DensityPoint {
  readonly apps: number;
  /** Spawn of `wakegate run` to its "wakegate listening" line. */
  readonly startupMs: number;
  readonly rssBytes: number;
  /** Peak RSS: config validation of many apps can spike above the settled value. */
  readonly hwmBytes: number;
  readonly fds: number;
}

export interface DensityResult {
  readonly settleMs: number;
  readonly baseline: DensityPoint;
  readonly points: ReadonlyArray<DensityPoint & { readonly perAppBytes: number; readonly perAppFds: number }>;
}

export async function density(opts: DensityOptions): Promise<DensityResult> {
  const baseline = await measure(0, opts.settleMs);
  const points = [];
  for (const k of opts.appCounts) {
    const p = await measure(k, opts.settleMs);
    points.push({ ...p, perAppBytes: (p.rssBytes - baseline.rssBytes) / k, perAppFds: (p.fds - baseline.fds) / k });
  }
  return { settleMs: opts.settleMs, baseline, points };
}

async function measure(apps: number, settleMs: number): Promise<DensityPoint> {
  const gateway = GatewayProcess.start(appsConfig(apps));
  try {
    const { startupMs } = await gateway.ready();
    await sleep(settleMs);
    const status = readFileSync(`/proc/${gateway.pid}/status`, 'utf8');
    return {
      apps,
      startupMs,
      rssBytes: statusKb(status, 'VmRSS') * 1024,
      hwmBytes: statusKb(status, 'VmHWM') * 1024,
      fds: readdirSync(`/proc/${gateway.pid}/fd`).length,
    };
  } finally {
    await gateway.stop();
  }
}

/** Every app shares one directory: only the gateway's per-app state is measured, not the disk. */
function appsConfig(count: number): Record<string, unknown> {
  const apps: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    apps[`app${i}`] = { hosts: [`app${i}.localhost`], command: ['node', 'server.mjs'], dir: HELLO_DIR, runtime: 'process' };
  }
  return apps;
}

function statusKb(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${key} in /proc/<pid>/status`);
  return Number(m[1]);
}
