/**
 * A deterministic fuzzer for the config loader (used by test/unit/config-fuzz.test.ts).
 *
 * Every document is generated from one 32-bit seed (./fuzz-document.ts). Documents are parsed in worker
 * threads (./fuzz-worker.ts) whose progress sits in shared memory, so a parse that never returns is
 * detected by the main thread, reported with its document (regenerated from the seed) and the run goes
 * on in a new worker.
 */
import { Worker } from 'node:worker_threads';
import { documentSeed } from '../seeded-random.js';
import { describeError } from './error-problem.js';
import { excerpt, generateDocument } from './fuzz-document.js';
import { type FuzzFailure, type FuzzOptions, now, P_MAX_MS, P_POS, P_REJECTED, P_SLOWEST, P_STARTED, P_VALID, WORKER_KIND, type WorkerInput, type WorkerMessage } from './worker-protocol.js';

export interface FuzzReport {
  valid: number;
  rejected: number;
  maxMs: number;
  slowest: number;
  failures: FuzzFailure[];
  pollution: string[];
  /** Documents whose parse was cut short (a hang, or the worker died); neither valid nor rejected. */
  stopped: number;
}

/** Runs the documents in `opts.workers` workers, each taking every n-th document. */
export async function fuzzConfigs(opts: FuzzOptions): Promise<FuzzReport> {
  const slices = Array.from({ length: opts.workers }, (_, w) => opts.indexes.filter((_, i) => i % opts.workers === w));
  const reports = await Promise.all(slices.filter((s) => s.length > 0).map((indexes) => fuzzSlice({ ...opts, indexes })));
  const slowest = reports.reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
  return {
    valid: reports.reduce((n, r) => n + r.valid, 0),
    rejected: reports.reduce((n, r) => n + r.rejected, 0),
    stopped: reports.reduce((n, r) => n + r.stopped, 0),
    maxMs: slowest.maxMs,
    slowest: slowest.slowest,
    failures: reports.flatMap((r) => r.failures).sort((a, b) => a.index - b.index),
    pollution: reports.flatMap((r) => r.pollution),
  };
}

/**
 * Parses documents `indexes` of run `runSeed` in a worker (1 MB of stack like the main thread, a bounded heap).
 * A parse still running after `hangMs` is a hang: the worker is terminated, the document reported and the
 * run resumes after it in a new worker. A worker that dies (out of memory, say) is handled likewise.
 */
async function fuzzSlice(opts: FuzzOptions): Promise<FuzzReport> {
  const progress = new Float64Array(new SharedArrayBuffer(8 * 6));
  const report: FuzzReport = { valid: 0, rejected: 0, maxMs: 0, slowest: -1, failures: [], pollution: [], stopped: 0 };
  let from = 0;
  while (from < opts.indexes.length) {
    progress[P_POS] = from;
    progress[P_STARTED] = 0;
    const input: WorkerInput = { kind: WORKER_KIND, ...opts, from, progress: progress.buffer as SharedArrayBuffer };
    const stopped = await new Promise<string | undefined>((resolve) => {
      // No execArgv: the test runner's --import hooks would load into every worker, for nothing.
      const worker = new Worker(new URL('./fuzz-worker.js', import.meta.url), { workerData: input, execArgv: [], resourceLimits: { stackSizeMb: 1, maxOldGenerationSizeMb: 1024 } });
      let finished = false;
      let reason: string | undefined;
      const watchdog = setInterval(() => {
        const started = progress[P_STARTED]!;
        if (started > 0 && now() - started > opts.hangMs) {
          reason = `still parsing after ${opts.hangMs} ms: a hang`;
          void worker.terminate();
        }
      }, 100);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'failure') report.failures.push(m.failure);
        else {
          finished = true;
          report.pollution = m.pollution;
        }
      });
      worker.on('error', (err) => {
        reason = `the worker died: ${describeError(err)}`;
      });
      worker.on('exit', (code) => {
        clearInterval(watchdog);
        resolve(finished ? undefined : (reason ?? `the worker exited with code ${code}`));
      });
    });
    if (stopped === undefined) break;
    const pos = progress[P_POS]!;
    const index = opts.indexes[pos]!;
    const seed = documentSeed(opts.runSeed, index);
    let doc: { ops: string; document: string };
    try {
      doc = excerpt(generateDocument(seed, opts.path));
    } catch (err) {
      doc = { ops: `(cannot be generated: ${describeError(err)})`, document: '' };
    }
    report.failures.push({ index, seed, problem: stopped, ...doc });
    report.stopped++;
    from = pos + 1;
  }
  report.valid = progress[P_VALID]!;
  report.rejected = progress[P_REJECTED]!;
  report.maxMs = progress[P_MAX_MS]!;
  report.slowest = progress[P_SLOWEST]!;
  return report;
}
