/**
 * `node dist/bench/socket-bench.js`: only the socket-mode scenarios of `npm run bench`, with the machine
 * note, for iterating on socket mode without the other four minutes. BENCH_QUICK=1 and BENCH_RUNS as there.
 * Prints markdown; writes nothing.
 */
import os from 'node:os';
import { findOciRuntime } from '../src/runtime/executable.js';
import { recordMachine } from './machine.js';
import { renderSocketMode, socketMode, socketModeSummaryRows } from './socket-mode.js';
import { markdownTable } from './stats.js';

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const runs = process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : quick ? 5 : 50;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a positive integer, got ${process.env.BENCH_RUNS}`);
  const m = recordMachine();
  const runc = process.getuid?.() === 0 ? findOciRuntime(undefined, process.env.PATH ?? '') : undefined;
  const load = os.loadavg()[0]!;
  const r = await socketMode({ quick, runs, ...(runc && { runc }), progress: (msg) => process.stderr.write(`bench: ${msg}\n`) });
  const machine = `${m.nproc} × ${m.cpuModel}, ${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB, kernel ${m.kernel}, node ${m.node}; load average (1 min) ${load.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end`;
  const out = [`## wakegate socket-mode bench${quick ? ' (quick)' : ''}`, machine, markdownTable(['scenario', 'wakegate', 'baseline', 'wakegate / baseline'], socketModeSummaryRows(r)), ...renderSocketMode(r)];
  process.stdout.write(`${out.join('\n\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
