import type { ExitInfo } from '../runtime/runtime.js';

/** `frozen`: the instance exists but its runtime froze it (freezeAfter); the next request thaws it. */
export type AppState = 'stopped' | 'starting' | 'running' | 'frozen' | 'stopping';

/** Why an instance ended. A bounded set: it is a metric label. */
export type ExitReason = 'idle' | 'crash' | 'oom' | 'killed' | 'start_timeout' | 'unresponsive' | 'stop' | 'drain' | 'removed' | 'shutdown' | 'dependency' | 'evicted' | 'thaw_failed';

/** Stop reasons that say the instance failed, so its run never counts as healthy for the crash backoff. */
const FAILURES: ReadonlySet<ExitReason> = new Set(['crash', 'oom', 'killed', 'start_timeout', 'unresponsive']);

export function isFailure(reason: ExitReason): boolean {
  return FAILURES.has(reason);
}

/**
 * `timeout`: requests waited past startTimeout (they got 503). `abandoned`: startTimeout passed without an
 * answer after every waiting client had gone, so nothing shows whether the instance would have answered.
 */
export type ColdStartResult = 'ok' | 'failed' | 'timeout' | 'abandoned';

export interface ColdStartEvent {
  readonly instance: string | undefined;
  readonly result: ColdStartResult;
  /** Trigger to `runtime.start` returning. */
  readonly spawnMs: number | undefined;
  /** Trigger (the first request's arrival) to the first response byte. */
  readonly firstByteMs: number | undefined;
  /** Trigger (the first connection waiting on a socket) to the instance draining its accept queue (phase `accept`). */
  readonly acceptMs?: number;
  readonly error?: Error;
}

export interface ExitEvent {
  readonly instance: string;
  readonly pid: number;
  readonly reason: ExitReason;
  readonly exit: ExitInfo;
  readonly lifetimeMs: number;
  /** Set when the exit was unexpected and the next start is delayed. */
  readonly backoffMs?: number;
}

/**
 * What the activator reports as it works. Declared here, by its only producer; implemented by the
 * log recorder and the metrics recorder so that the activator never imports either.
 */
export interface Recorder {
  stateChanged(app: string, from: AppState, to: AppState): void;
  coldStart(app: string, event: ColdStartEvent): void;
  instanceExited(app: string, event: ExitEvent): void;
  /** Called whenever in-flight or queued counts change. */
  load(app: string, inflight: number, queued: number): void;
}
