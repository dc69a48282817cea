/**
 * A deterministic fuzzer for the config loader (used by test/unit/config-fuzz.test.ts).
 *
 * Every document is generated from one 32-bit seed: a valid seed config, then structural mutations on
 * the parsed object and textual mutations on its YAML or JSON text. Documents are parsed in a worker
 * thread whose progress sits in shared memory, so a parse that never returns is detected by the main
 * thread, reported with its document (regenerated from the seed) and the run goes on in a new worker.
 * This module is also that worker's entry point (see the end of the file).
 */
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { configProblems } from './config-fuzz/config-problems.js';
import { describeError, errorProblem } from './config-fuzz/error-problem.js';
import { excerpt, type FuzzDocument, generateDocument } from './config-fuzz/fuzz-document.js';
import { pollution, prototypeKeys } from './config-fuzz/prototype-pollution.js';
import { documentSeed } from './seeded-random.js';

// ---------------------------------------------------------------------------------------------------
// Running: a worker parses, the main thread watches

export interface FuzzFailure {
  index: number;
  seed: number;
  problem: string;
  /** How the document was made from its seed config, and its text (shortened). */
  ops: string;
  document: string;
}

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

interface WorkerInput extends FuzzOptions {
  kind: typeof WORKER_KIND;
  /** Where in `indexes` to begin (after a hang, past the document that hung). */
  from: number;
  progress: SharedArrayBuffer;
}

type WorkerMessage = { type: 'failure'; failure: FuzzFailure } | { type: 'done'; pollution: string[] };

const WORKER_KIND = 'wakegate-config-fuzz';
// Progress in shared memory: the position in `indexes` being parsed, when its parse began (ms since the
// epoch, 0 between parses), the counts so far and the slowest parse.
const P_POS = 0;
const P_STARTED = 1;
const P_VALID = 2;
const P_REJECTED = 3;
const P_MAX_MS = 4;
const P_SLOWEST = 5;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** One document: undefined when the outcome is fine, else what is wrong. */
function check(doc: FuzzDocument, file: string): { problem?: string; valid: boolean } {
  let cfg: GatewayConfig;
  try {
    cfg = parseConfig(doc.text, file, { env: doc.env, uid: 0 });
  } catch (err) {
    const problem = errorProblem(err);
    return problem === undefined ? { valid: false } : { problem, valid: false };
  }
  const problems = configProblems(cfg, file);
  return problems.length === 0 ? { valid: true } : { problem: `accepted, but: ${problems.slice(0, 5).join('; ')}`, valid: true };
}

function runWorker(input: WorkerInput): void {
  const progress = new Float64Array(input.progress);
  const baseline = prototypeKeys();
  for (let pos = input.from; pos < input.indexes.length; pos++) {
    const index = input.indexes[pos]!;
    const seed = documentSeed(input.runSeed, index);
    let doc: FuzzDocument;
    try {
      doc = generateDocument(seed, input.path);
    } catch (err) {
      const message: WorkerMessage = { type: 'failure', failure: { index, seed, problem: `the fuzzer failed to generate it: ${describeError(err)}`, ops: '', document: '' } };
      parentPort!.postMessage(message);
      continue;
    }
    progress[P_POS] = pos;
    const started = now();
    progress[P_STARTED] = started;
    const outcome = check(doc, input.file);
    const ms = now() - started;
    progress[P_STARTED] = 0;
    progress[outcome.valid ? P_VALID : P_REJECTED]! += 1;
    if (ms > progress[P_MAX_MS]!) {
      progress[P_MAX_MS] = ms;
      progress[P_SLOWEST] = index;
    }
    let problem = outcome.problem;
    if (ms > input.limitMs) problem = `${problem ? `${problem}; ` : ''}took ${ms.toFixed(0)} ms (limit ${input.limitMs} ms)`;
    if (problem !== undefined) {
      const message: WorkerMessage = { type: 'failure', failure: { index, seed, problem, ...excerpt(doc) } };
      parentPort!.postMessage(message);
    }
  }
  const done: WorkerMessage = { type: 'done', pollution: pollution(baseline) };
  parentPort!.postMessage(done);
}

export interface FuzzOptions {
  runSeed: number;
  indexes: number[];
  /** The config file name documents are parsed as (relative paths resolve against its directory). */
  file: string;
  /** PATH for the documents' environment: where the fake runc is. */
  path: string;
  /** A parse that takes longer fails. */
  limitMs: number;
  /** A parse still running after this long is a hang: its worker is terminated. */
  hangMs: number;
  workers: number;
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
      const worker = new Worker(new URL(import.meta.url), { workerData: input, execArgv: [], resourceLimits: { stackSizeMb: 1, maxOldGenerationSizeMb: 1024 } });
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

if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND) runWorker(workerData as WorkerInput);
