/**
 * `npm run bench`: records the machine, runs every scenario against its baselines in the same run, prints
 * a summary table and each scenario's tables (markdown, to paste into notes), writes the full results (raw
 * samples included) to bench/results/<timestamp>.json and the charts beside them. It measures only:
 * nothing here passes or fails on a number. BENCH_QUICK=1 is the smoke version a test runs.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DEFAULT_PATH, findExecutable, findOciRuntime } from '../src/runtime/executable.js';
import { coldStartChart, throughputChart } from './charts.js';
import { churn, renderChurn, type ChurnResult } from './churn.js';
import { coldStart, renderColdStart, SOCKET_ACTIVATE, type ColdStartResult } from './cold-start.js';
import { containerMemory, renderContainerMemory, type ContainerMemoryResult } from './container-memory.js';
import { density, densitySummaryRows, renderDensity, type DensityResult } from './density.js';
import { ROOT } from './gateway-process.js';
import { freezeBench, freezeSummaryRows, renderFreeze, type FreezeResult } from './freeze.js';
import { haproxyTier, haproxyTierSummaryRows, renderHaproxyTier, type HaproxyTierResult } from './haproxy-tier.js';
import { herd, renderHerd, type HerdResult } from './herd.js';
import { recordMachine, type MachineInfo } from './machine.js';
import { renderRestart, restartSummaryRows, restartUnderLoad, type RestartResult } from './restart.js';
import { markdownTable, ms, ratio } from './stats.js';
import { renderSocketMode, socketMode, socketModeSummaryRows, type SocketModeResult } from './socket-mode.js';
import { renderSpawnCost, spawnCost, type SpawnCostResult } from './spawn-cost.js';
import { renderSystemdColdStart, systemdColdStart, systemdColdStartSummaryRows, type SystemdColdStartResult } from './systemd-cold-start.js';
import { throughput, type ThroughputResult } from './throughput.js';
import { renderThroughput, throughputChartRows, throughputSummaryRows } from './throughput-report.js';

export interface BenchReport {
  readonly startedAt: string;
  readonly quick: boolean;
  readonly wallMs: number;
  readonly machine: MachineInfo;
  readonly coldStart: ColdStartResult;
  /** Present where an OCI runtime is installed and the bench runs as root. */
  readonly containerMemory?: ContainerMemoryResult;
  /** Issue 13: direct, wakegate, nginx, HAProxy and http-proxy at c=1 and c=50. */
  readonly throughput: ThroughputResult;
  readonly herd: HerdResult;
  readonly density: DensityResult;
  readonly churn: ChurnResult;
  /** Issue 10: the app's own sockets held by the gateway, which steps out of the data path. */
  readonly socketMode: SocketModeResult;
  /** The spawn call against the gateway's own size, beside Node's child_process. */
  readonly spawnCost: SpawnCostResult;
  /** Issue 11: requests refused and failed per restart, under systemd with the fd store and plain. */
  readonly restart: RestartResult;
  /** Issue 12: the systemd runtime's cold start beside the process runtime's, under a booted systemd. */
  readonly systemdColdStart: SystemdColdStartResult;
  /** Issue 15 part 1: a request to a frozen instance beside a warm one and a cold start; present as root (cgroups). */
  readonly freeze?: FreezeResult;
  /** Issue 16: HAProxy → wakegate → app beside HAProxy → app. */
  readonly haproxyTier: HaproxyTierResult;
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const runs = process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : quick ? 5 : 50;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a positive integer, got ${process.env.BENCH_RUNS}`);
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const machine = recordMachine();
  const runc = process.getuid?.() === 0 ? findOciRuntime(undefined, process.env.PATH ?? '') : undefined;
  if (!runc) progress('no OCI runtime (or not root): the container paths are left out');

  progress(`cold start: ${runs} runs per path, paths in rotation`);
  const nspawn = process.getuid?.() === 0 && findExecutable('systemd-nspawn', [process.env.PATH ?? '', DEFAULT_PATH].join(delimiter)) !== undefined;
  if (!nspawn) progress('no systemd-nspawn (or not root): the nspawn path is left out');
  const cold = await coldStart({ runs, warmup: 1, nspawn, ...(runc && { runc }), ...(existsSync(SOCKET_ACTIVATE) && { socketActivate: SOCKET_ACTIVATE }) });
  const memory = runc ? (progress('container memory while running and after the idle stop'), await containerMemory(runc)) : undefined;
  progress('L7 throughput (wrk, c=1 and c=50): direct, wakegate, nginx, HAProxy, http-proxy');
  const tput = await throughput({ quick, pin: process.env.BENCH_PIN !== '0' });
  progress('herd: concurrent first requests to one cold app');
  const crowd = await herd({ quick });
  progress('density: idle apps configured, then some running');
  const dens = await density({ quick });
  progress('idle churn');
  const churned = await churn({ quick });
  const socket = await socketMode({ quick, runs, ...(runc && { runc }), progress });
  progress('spawn cost against the gateway\'s size');
  const spawned = await spawnCost({ runs: quick ? 10 : 100, ballastMiB: [256] });
  const restart = await restartUnderLoad({ quick, progress });
  const sdCold = await systemdColdStart({ runs, warmup: 1, progress });
  const root = process.getuid?.() === 0;
  progress(root ? 'freeze tier: wake from frozen beside warm and cold' : 'not root: no cgroups for the process runtime, the freeze scenario is left out');
  const frozen = root ? await freezeBench({ quick }) : undefined;
  progress('HAProxy tier: HAProxy → wakegate → app beside HAProxy → app');
  const tier = await haproxyTier({ quick, pin: process.env.BENCH_PIN !== '0' });

  const report: BenchReport = {
    startedAt,
    quick,
    wallMs: Date.now() - started,
    machine,
    coldStart: cold,
    ...(memory && { containerMemory: memory }),
    throughput: tput,
    herd: crowd,
    density: dens,
    churn: churned,
    socketMode: socket,
    spawnCost: spawned,
    restart,
    systemdColdStart: sdCold,
    ...(frozen && { freeze: frozen }),
    haproxyTier: tier,
  };
  process.stdout.write(`${render(report)}\n`);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  // Colons are legal on Linux but break scp targets and Windows checkouts of the notes.
  const stamp = startedAt.replace(/:/g, '-');
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const charts = { 'cold-start': coldStartChart(cold), throughput: throughputChart(throughputChartRows(tput)) };
  for (const [name, svg] of Object.entries(charts)) {
    writeFileSync(join(dir, `${stamp}-${name}.svg`), svg);
    // The README shows the latest full run's charts.
    if (!quick) copyFileSync(join(dir, `${stamp}-${name}.svg`), join(dir, `latest-${name}.svg`));
  }
  progress(`wrote ${join(dir, `${stamp}.json`)} and its charts (${Math.round(report.wallMs / 1000)} s in all)`);
}

/** Progress goes to stderr so that stdout is exactly the pasteable summary. */
function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function render(r: BenchReport): string {
  const m = r.machine;
  return [
    `## wakegate bench, ${r.startedAt}${r.quick ? ' (quick)' : ''}, ${Math.round(r.wallMs / 1000)} s`,
    markdownTable(
      ['machine', ''],
      [
        ['CPUs', `${m.nproc} × ${m.cpuModel}`],
        ['memory', `${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB`],
        ['kernel', m.kernel],
        ['node', m.node],
        ['tmpdir (runtimeDir)', `${m.tmpdir.path} (${m.tmpdir.fs})`],
        ['runc', m.tools.runc],
        ['nginx', m.tools.nginx],
        ['HAProxy', r.throughput.tools.haproxy.replace(/ - https.*$/, '')],
        ['http-proxy', r.throughput.tools.httpProxy],
        ['wrk', m.tools.wrk],
      ],
    ),
    '### Summary',
    markdownTable(['scenario', 'wakegate', 'baseline', 'wakegate / baseline'], summaryRows(r)),
    ...renderColdStart(r.coldStart),
    ...(r.containerMemory ? renderContainerMemory(r.containerMemory) : []),
    ...renderThroughput(r.throughput),
    ...renderHerd(r.herd),
    ...renderDensity(r.density),
    ...renderChurn(r.churn),
    ...renderSocketMode(r.socketMode),
    ...renderSpawnCost(r.spawnCost),
    ...renderRestart(r.restart),
    ...renderSystemdColdStart(r.systemdColdStart),
    ...(r.freeze ? renderFreeze(r.freeze) : []),
    ...renderHaproxyTier(r.haproxyTier),
  ].join('\n\n');
}

/** One line per scenario: the headline number beside the baseline measured in the same run. */
function summaryRows(r: BenchReport): string[][] {
  const rows: string[][] = [];
  const path = (name: string) => r.coldStart.paths.find((p) => p.path === name)?.summary;
  for (const [label, ours, base] of [
    ['cold start p50, process (ms)', 'gateway-process', 'bare-process'],
    ['cold start p50, oci (ms)', 'gateway-oci', 'bare-runc'],
    ['cold start p50, nspawn (ms)', 'gateway-nspawn', 'bare-runc'],
    ['cold start p50, nspawn vs process (ms)', 'gateway-nspawn', 'gateway-process'],
    ['cold start p50, systemd-socket-activate (ms)', 'socket-activate', 'bare-process'],
  ] as const) {
    const a = path(ours);
    const b = path(base);
    if (a && b) rows.push([label, ms(a.p50), `${ms(b.p50)} (${base})`, ratio(a.p50, b.p50)]);
  }
  rows.push(...throughputSummaryRows(r.throughput));
  const h = r.herd;
  rows.push([`herd of ${h.clients}: starts, errors, p99 (ms)`, `${h.starts}, ${h.errors}, ${ms(h.latencyMs.p99)}`, `p99 ${ms(h.warm.latencyMs.p99)} (same herd, app running)`, ratio(h.latencyMs.p99, h.warm.latencyMs.p99)]);
  rows.push(...densitySummaryRows(r.density));
  const c = r.churn;
  rows.push([`churn: cold starts/s, errors (${c.apps} apps)`, `${c.coldStartsPerSec.toFixed(1)}, ${c.errors}`, '-', '-']);
  rows.push(['churn: gateway fds, RSS MB (idle at end vs before)', `${c.gateway.idle.fds}, ${(c.gateway.idle.rssBytes / 1024 ** 2).toFixed(1)}`, `${c.gateway.fresh.fds}, ${(c.gateway.fresh.rssBytes / 1024 ** 2).toFixed(1)}`, ratio(c.gateway.idle.rssBytes, c.gateway.fresh.rssBytes)]);
  rows.push(...socketModeSummaryRows(r.socketMode));
  const big = r.spawnCost.points[r.spawnCost.points.length - 1];
  if (big) rows.push([`spawn call p50 at ${(big.rssBytes / 1024 ** 2).toFixed(0)} MB gateway RSS (ms)`, ms(big.native.p50), `${ms(big.childProcess.p50)} (child_process.spawn)`, ratio(big.native.p50, big.childProcess.p50)]);
  rows.push(...restartSummaryRows(r.restart));
  rows.push(...systemdColdStartSummaryRows(r.systemdColdStart));
  if (r.freeze) rows.push(...freezeSummaryRows(r.freeze));
  rows.push(...haproxyTierSummaryRows(r.haproxyTier));
  return rows;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
