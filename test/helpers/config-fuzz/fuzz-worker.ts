/**
 * The entry point of a config fuzz worker, started by ./fuzz-runner.ts: it generates its share of the
 * documents, parses each and keeps its progress in shared memory, where the runner watches for a hang.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseConfig } from '../../../src/config/load.js';
import type { GatewayConfig } from '../../../src/config/types.js';
import { documentSeed } from '../seeded-random.js';
import { configProblems } from './config-problems.js';
import { describeError, errorProblem } from './error-problem.js';
import { excerpt, type FuzzDocument, generateDocument } from './fuzz-document.js';
import { pollution, prototypeKeys } from './prototype-pollution.js';
import { now, P_MAX_MS, P_POS, P_REJECTED, P_SLOWEST, P_STARTED, P_VALID, WORKER_KIND, type WorkerInput, type WorkerMessage } from './worker-protocol.js';

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

// Only in a worker the runner started: imported anywhere else, this module does nothing.
if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND) runWorker(workerData as WorkerInput);
