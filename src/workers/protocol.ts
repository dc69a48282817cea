import type { AppState, ColdStartResult } from '../activator/recorder.js';
import type { AppSpec, GatewayConfig } from '../config/types.js';
import { BackoffError, CapacityError, DependencyError, InstanceCrashedError, QueueFullError, StartFailedError, StartTimeoutError, UnavailableError, UpstreamError, WakegateError } from '../errors.js';
import type { TallySnapshot } from './tally-merge.js';

/**
 * The messages between the primary and its workers (child_process IPC, one channel per worker, in order).
 * Nothing is sent per request to a running app: state goes primary → workers when it changes, and the
 * workers report per app and generation only the edges (busy, quiet, first answer, unresponsive).
 */

/** One app as a worker mirrors it. `generation` names the instance (or the start) requests go to. */
export interface AppMirror {
  readonly spec: AppSpec;
  readonly state: AppState;
  readonly generation: number | undefined;
  /** The instance's pid once it is spawned (sent from `running` on): a worker watches it to see a crash at once. */
  readonly pid?: number;
  /** What a worker's waiting page reads of the start (navigation-hold.ts's StartingApp), as of this push. */
  readonly start: StartMirror;
}

/**
 * The activator's view of its start. Times are the primary's Date.now(), the same clock as a worker's; the
 * backoff is what is left of it when pushed (a worker counts it down from when it got it).
 */
export interface StartMirror {
  readonly coldStartSince?: number;
  readonly backoffRemainingMs: number;
  readonly lastColdStart?: { readonly at: number; readonly result: ColdStartResult; readonly error?: WireError };
}

/** A WakegateError as it crosses the channel: its code and what its class needs to be built again. */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly app?: string;
  readonly number?: number;
  readonly text?: string;
  /** The app a DependencyError names. */
  readonly dependency?: string;
}

export type ToWorker =
  /** First message: who the worker is and what it serves. */
  | {
      readonly t: 'init';
      readonly index: number;
      readonly workers: number;
      readonly config: GatewayConfig;
      readonly apps: readonly AppMirror[];
      /** Apps whose idle check is under way: parked from the start (a replacement forked during one). */
      readonly parked: readonly string[];
    }
  /** A reload: the new config and every app of it (apps missing are removed). */
  | { readonly t: 'apps'; readonly config: GatewayConfig; readonly apps: readonly AppMirror[] }
  | { readonly t: 'state'; readonly app: string; readonly mirror: AppMirror }
  /** The requests of this generation fail with `error` (the instance exited, its start failed or timed out). */
  | { readonly t: 'failed'; readonly app: string; readonly generation: number; readonly error: WireError }
  /** The answer to `acquire`: the generation to send on (the primary holds it for this worker), or why not. */
  | { readonly t: 'granted'; readonly id: number; readonly generation: number | undefined }
  | { readonly t: 'refused'; readonly id: number; readonly error: WireError }
  /**
   * The answer to `wake`: what the primary's wakeHeld said. The `state` push of the start it made is broadcast
   * as the activator changes state, so it is on the channel before this answer.
   */
  | { readonly t: 'woken'; readonly id: number; readonly woken: boolean }
  /** The idle countdown ended: hold new requests for `app` back (they ask the primary) and say whether any is in flight. */
  | { readonly t: 'park'; readonly id: number; readonly app: string }
  | { readonly t: 'unpark'; readonly app: string }
  | { readonly t: 'tally'; readonly id: number }
  /** Liveness: answered with `pong` by the worker's event loop (see WorkerWatchdog). */
  | { readonly t: 'ping'; readonly id: number }
  | { readonly t: 'shutdown'; readonly graceMs: number };

export type FromWorker =
  | { readonly t: 'ready'; readonly address: { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string } }
  /** The app is stopped, stopping or parked here: start it (once, whatever the number of workers asking), or wait out its stop. */
  | { readonly t: 'acquire'; readonly id: number; readonly app: string }
  /** A browser navigation found the app stopped here: wake it without a request (AppRegistry.wakeHeld). */
  | { readonly t: 'wake'; readonly id: number; readonly app: string }
  /** In-flight count for (app, generation) went 0 → 1 (busy), or stayed 0 for workerQuietMs (quiet). */
  | { readonly t: 'busy'; readonly app: string; readonly generation: number }
  | { readonly t: 'quiet'; readonly app: string; readonly generation: number }
  /** The first answer on this generation here, or unresponsiveAfter response timeouts in a row. */
  | { readonly t: 'responded'; readonly app: string; readonly generation: number }
  | { readonly t: 'unresponsive'; readonly app: string; readonly generation: number }
  | { readonly t: 'parked'; readonly id: number; readonly quiet: boolean }
  | { readonly t: 'tally'; readonly id: number; readonly tally: TallySnapshot }
  | { readonly t: 'pong'; readonly id: number };

/** What the primary's answers to a worker carry of an error; anything not listed becomes an UpstreamError (502). */
export function toWire(err: unknown): WireError {
  if (!(err instanceof WakegateError)) return { code: 'WG_ERR_UPSTREAM', message: err instanceof Error ? err.message : String(err) };
  const e = err as WakegateError & { app?: string; limit?: number; retryAfterMs?: number; timeoutMs?: number; exit?: string; reason?: string; why?: string; problem?: string; dependency?: string };
  const number = e.limit ?? e.retryAfterMs ?? e.timeoutMs;
  const text = e.exit ?? e.reason ?? e.why ?? e.problem ?? (err instanceof StartFailedError && err.cause instanceof Error ? err.cause.message : undefined);
  return { code: e.code, message: e.message, ...(e.app !== undefined && { app: e.app }), ...(number !== undefined && { number }), ...(text !== undefined && { text }), ...(e.dependency !== undefined && { dependency: e.dependency }) };
}

/** The same error class again, so that the one place that turns errors into statuses answers as in-process. */
export function fromWire(wire: WireError, app: string): WakegateError {
  const name = wire.app ?? app;
  switch (wire.code) {
    case 'WG_ERR_QUEUE_FULL':
      return new QueueFullError(name, wire.number ?? 0);
    case 'WG_ERR_BACKOFF':
      return new BackoffError(name, wire.number ?? 0);
    case 'WG_ERR_START_TIMEOUT':
      return new StartTimeoutError(name, wire.number ?? 0);
    case 'WG_ERR_INSTANCE_CRASHED':
      return new InstanceCrashedError(name, wire.text ?? 'unknown');
    case 'WG_ERR_UNAVAILABLE':
      return new UnavailableError(name, wire.text === 'removed' ? 'removed' : 'shutdown');
    case 'WG_ERR_CAPACITY':
      return new CapacityError(name, wire.text ?? wire.message, wire.number ?? 0);
    case 'WG_ERR_DEPENDENCY':
      return new DependencyError(name, wire.dependency ?? 'unknown', wire.text ?? wire.message, wire.number ?? 0);
    case 'WG_ERR_START_FAILED':
      return new StartFailedError(name, { cause: new Error(wire.text ?? wire.message) });
    default:
      return new UpstreamError(name, { cause: new Error(wire.message) });
  }
}
