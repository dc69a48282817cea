/**
 * `node dist/bench/throughput-bench.js`: only the L7 throughput scenario of `npm run bench`, with the
 * machine note, for iterating on the proxy path without the rest of the bench. BENCH_QUICK=1 as there.
 * Prints markdown and writes the result as JSON to the file named by BENCH_JSON, if set.
 */
import { writeFileSync } from 'node:fs';
import { recordMachine } from './machine.js';
import { markdownTable } from './stats.js';
import { throughput } from './throughput.js';
import { renderThroughput, throughputSummaryRows } from './throughput-report.js';

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const m = recordMachine();
  const r = await throughput({ quick, pin: process.env.BENCH_PIN !== '0' });
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify({ machine: m, throughput: r }, null, 2)}\n`);
  const machine = `${m.nproc} × ${m.cpuModel}, ${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB, kernel ${m.kernel}, node ${m.node}, ${Math.round(r.wallMs / 1000)} s`;
  const out = [`## wakegate L7 throughput bench${quick ? ' (quick)' : ''}, ${new Date().toISOString()}`, machine, markdownTable(['scenario', 'wakegate', 'baseline', 'wakegate / baseline'], throughputSummaryRows(r)), ...renderThroughput(r)];
  process.stdout.write(`${out.join('\n\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
