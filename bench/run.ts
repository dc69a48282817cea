/**
 * `npm run bench`: records the machine, runs each scenario in order, prints markdown tables (to paste
 * into notes) and writes the full results, raw samples included, to bench/results/<timestamp>.json.
 * It measures only; nothing here passes or fails on a number.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findOciRuntime } from '../src/runtime/executable.js';
import { coldStart, type ColdStartResult } from './cold-start.js';
import { containerMemory, type ContainerMemoryResult } from './container-memory.js';
import { density, type DensityResult } from './density.js';
import { ROOT } from './gateway-process.js';
import { recordMachine, type MachineInfo } from './machine.js';
import { kb, markdownTable, mb, ms, ratio, type Summary } from './stats.js';

export interface BenchReport {
  readonly startedAt: string;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  readonly coldStart: ColdStartResult;
  /** Present where an OCI runtime is installed and the bench runs as root. */
  readonly coldStartOci?: ColdStartResult;
  readonly containerMemory?: ContainerMemoryResult;
  readonly density: DensityResult;
}

interface Options {
  readonly quick: boolean;
  readonly runs: number;
  readonly appCounts: readonly number[];
}

function options(env: NodeJS.ProcessEnv): Options {
  const quick = env.BENCH_QUICK === '1';
  const runs = env.BENCH_RUNS ? Number(env.BENCH_RUNS) : quick ? 5 : 30;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a positive integer, got ${env.BENCH_RUNS}`);
  return { quick, runs, appCounts: quick ? [100] : [1000] };
}

async function main(): Promise<void> {
  const opts = options(process.env);
  const startedAt = new Date().toISOString();
  const machine = recordMachine();
  progress(`cold start: ${opts.runs} runs per path (+1 warm-up each), alternating bare/gateway`);
  const cold = await coldStart({ runtime: 'process', runs: opts.runs, warmup: 1 });
  const runc = process.getuid?.() === 0 ? findOciRuntime(undefined, process.env.PATH ?? '') : undefined;
  let coldOci: ColdStartResult | undefined;
  let memory: ContainerMemoryResult | undefined;
  if (runc) {
    progress(`cold start in containers (${runc}): ${opts.runs} runs per path, alternating bare runc run/gateway`);
    coldOci = await coldStart({ runtime: 'oci', runc, runs: opts.runs, warmup: 1 });
    progress('container memory while running and after the idle stop');
    memory = await containerMemory(runc);
  } else {
    progress('no OCI runtime (or not root): container scenarios skipped');
  }
  progress(`density: ${opts.appCounts.join(', ')} apps vs 0`);
  const dens = await density({ appCounts: opts.appCounts, settleMs: 1000 });
  const report: BenchReport = {
    startedAt,
    quick: opts.quick,
    machine,
    coldStart: cold,
    ...(coldOci && { coldStartOci: coldOci }),
    ...(memory && { containerMemory: memory }),
    density: dens,
  };

  process.stdout.write(`${render(report)}\n`);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  // Colons are legal on Linux but break scp targets and Windows checkouts of the notes.
  const file = join(dir, `${startedAt.replace(/:/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  progress(`wrote ${file}`);
}

/** Progress goes to stderr so that stdout is exactly the pasteable summary. */
function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function render(r: BenchReport): string {
  const m = r.machine;
  const c = r.coldStart;
  const d = r.density;
  const sections = [
    `## wakegate bench, ${r.startedAt}${r.quick ? ' (quick)' : ''}`,
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
        ['wrk', m.tools.wrk],
      ],
    ),
    ...coldStartTables(c, 'node fork/exec'),
    ...(r.coldStartOci ? coldStartTables(r.coldStartOci, '`runc run` of the same bundle') : []),
    ...(r.containerMemory ? memoryTables(r.containerMemory) : []),
    `### Density: configured apps, none running (RSS after ${d.settleMs} ms settle)`,
    markdownTable(
      ['apps', 'start-up ms', 'RSS MB', 'peak RSS MB', 'fds', 'per app KB', 'per app fds'],
      [
        [`${d.baseline.apps} (baseline)`, ms(d.baseline.startupMs), mb(d.baseline.rssBytes), mb(d.baseline.hwmBytes), String(d.baseline.fds), '-', '-'],
        ...d.points.map((p) => [
          String(p.apps),
          ms(p.startupMs),
          mb(p.rssBytes),
          mb(p.hwmBytes),
          String(p.fds),
          kb(p.perAppBytes),
          p.perAppFds.toFixed(2),
        ]),
      ],
    ),
  ];
  return sections.join('\n\n');
}

function coldStartTables(c: ColdStartResult, bare: string): string[] {
  const row = (name: string, s: Summary): string[] => [name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.min), ms(s.max)];
  return [
    `### Cold start, runtime ${c.runtime}, \`${c.command.join(' ')}\`, ${c.runs} runs per path (ms, nearest-rank)`,
    markdownTable(
      ['path', 'p50', 'p90', 'p99', 'min', 'max'],
      [
        row(`bare: ${bare} (spawn → first header)`, c.bare.summary),
        row('gateway (send → first header)', c.gateway.summary),
        row('gateway log: spawnMs', c.gateway.loggedSpawnMs),
        row('gateway log: firstByteMs', c.gateway.loggedFirstByteMs),
      ],
    ),
    markdownTable(
      ['gateway vs bare', 'p50', 'p99'],
      [
        ['overhead (gateway − bare), ms', ms(c.overheadMs.p50), ms(c.overheadMs.p99)],
        ['ratio (gateway / bare)', ratio(c.gateway.summary.p50, c.bare.summary.p50), ratio(c.gateway.summary.p99, c.bare.summary.p99)],
      ],
    ),
  ];
}

function memoryTables(m: ContainerMemoryResult): string[] {
  return [
    `### Container memory, read from its cgroup (\`${m.command}\`)`,
    markdownTable(
      ['when', 'cgroup usage MB', 'of which RSS MB'],
      [
        ['running, 1 s after its first response', mb(m.runningBytes), m.runningRssBytes === null ? '-' : mb(m.runningRssBytes)],
        ['after the idle stop', m.cgroupExistsAfterStop ? 'cgroup still there' : '0 (cgroup removed)', '0'],
      ],
    ),
  ];
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
