/** What the fuzz runner (main thread) and its workers share: options, messages and the progress in shared memory. */
import { performance } from 'node:perf_hooks';

export interface FuzzFailure {
  index: number;
  seed: number;
  problem: string;
  /** How the document was made from its seed config, and its text (shortened). */
  ops: string;
  document: string;
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

export interface WorkerInput extends FuzzOptions {
  kind: typeof WORKER_KIND;
  /** Where in `indexes` to begin (after a hang, past the document that hung). */
  from: number;
  progress: SharedArrayBuffer;
}

export type WorkerMessage = { type: 'failure'; failure: FuzzFailure } | { type: 'done'; pollution: string[] };

export const WORKER_KIND = 'wakegate-config-fuzz';
// Progress in shared memory: the position in `indexes` being parsed, when its parse began (ms since the
// epoch, 0 between parses), the counts so far and the slowest parse.
export const P_POS = 0;
export const P_STARTED = 1;
export const P_VALID = 2;
export const P_REJECTED = 3;
export const P_MAX_MS = 4;
export const P_SLOWEST = 5;

export function now(): number {
  return performance.timeOrigin + performance.now();
}
