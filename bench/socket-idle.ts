/**
 * What sleeping socket-mode apps cost the gateway: its CPU over a quiet window and its RSS with K apps
 * configured, each with its own TCP socket watched for readability and none running, against the same
 * gateway with 0 apps in the same run. Then, on the same gateway, R of them woken and left running, which is
 * what the periodic activity sampler costs (it samples the listeners of running apps only).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { procSnapshot, type ProcSnapshot } from './density.js';
import { GatewayProcess, HELLO_DIR, ROOT } from './gateway-process.js';
import { kb, markdownTable, mb, ms } from './stats.js';
import { cpuTicks } from './proc-cpu.js';
import { freePort, untilServed } from './wrk.js';

export interface SocketIdlePoint extends ProcSnapshot {
  readonly apps: number;
  readonly running: number;
  /** The gateway's utime+stime over the window, as a share of one core. */
  readonly cpuPercent: number;
  readonly startupMs: number;
}

export interface SocketIdleResult {
  readonly windowS: number;
  readonly settleMs: number;
  readonly clockTicksPerS: number;
  /** Whether this build has the activity sampler (src/socket/activity-sampler.ts). */
  readonly sampler: boolean;
  readonly baseline: SocketIdlePoint;
  readonly idle: SocketIdlePoint;
  readonly running?: SocketIdlePoint;
}

export async function socketIdle(opts: { readonly quick: boolean }): Promise<SocketIdleResult> {
  const apps = opts.quick ? 100 : 1000;
  const wake = opts.quick ? 3 : 20;
  const windowS = opts.quick ? 2 : 10;
  const settleMs = 1000;
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  const window = async (gateway: GatewayProcess, count: number, running: number, startupMs: number): Promise<SocketIdlePoint> => {
    await sleep(settleMs);
    const c0 = cpuTicks([gateway.pid]);
    const t0 = process.hrtime.bigint();
    await sleep(windowS * 1000);
    const ticks = cpuTicks([gateway.pid]) - c0;
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    return { apps: count, running, cpuPercent: (100 * ticks) / hz / wallS, startupMs, ...procSnapshot(gateway.pid) };
  };

  const empty = GatewayProcess.start({});
  let baseline: SocketIdlePoint;
  try {
    baseline = await window(empty, 0, 0, (await empty.ready()).startupMs);
  } finally {
    await empty.stop();
  }
  // The apps to wake get known ports; the rest let the kernel pick (port 0).
  const ports = await Promise.all(Array.from({ length: wake }, () => freePort()));
  const gateway = GatewayProcess.start(appsConfig(apps, ports));
  try {
    const idle = await window(gateway, apps, 0, (await gateway.ready()).startupMs);
    for (const port of ports) await untilServed(`http://127.0.0.1:${port}/`);
    const running = await window(gateway, apps, wake, idle.startupMs);
    return { windowS, settleMs, clockTicksPerS: hz, sampler: hasSampler(), baseline, idle, running };
  } finally {
    await gateway.stop();
  }
}

function hasSampler(): boolean {
  return existsSync(join(ROOT, 'dist/src/socket/activity-sampler.js'));
}

function appsConfig(count: number, ports: readonly number[]): Record<string, unknown> {
  const apps: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    const port = ports[i] ?? 0;
    apps[`app${i}`] = { listen: [`tcp:127.0.0.1:${port}`], command: [process.execPath, 'server.mjs'], dir: HELLO_DIR, runtime: 'process', idleTimeout: '1h' };
  }
  return apps;
}

export function renderSocketIdle(r: SocketIdleResult): string[] {
  const perApp = (p: SocketIdlePoint): string => (p.apps === 0 ? '-' : kb((p.rssBytes - r.baseline.rssBytes) / p.apps));
  const row = (label: string, p: SocketIdlePoint): string[] => [label, p.cpuPercent.toFixed(2), mb(p.rssBytes), perApp(p), mb(p.hwmBytes), String(p.fds), ms(p.startupMs)];
  const rows = [row('0 apps (baseline)', r.baseline), row(`${r.idle.apps} socket-mode apps, all stopped`, r.idle)];
  if (r.running) rows.push(row(`${r.running.apps} apps, ${r.running.running} running`, r.running));
  return [
    `### Socket mode, idle cost: gateway CPU over ${r.windowS} s (after ${r.settleMs} ms settle) and RSS`,
    `Each app has one TCP socket of its own, watched for readability while stopped. CPU: the gateway's utime+stime ` +
      `(${r.clockTicksPerS} Hz ticks) over the window, in % of one core. Activity sampler in this build: ${r.sampler ? 'yes' : 'no'}.`,
    markdownTable(['gateway', 'CPU % of a core', 'RSS MB', 'RSS per app KB (vs 0 apps)', 'peak RSS MB', 'fds', 'start-up ms'], rows),
  ];
}
