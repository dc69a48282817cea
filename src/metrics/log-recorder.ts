import type { AppState, ColdStartEvent, ExitEvent, Recorder } from '../activator/recorder.js';
import type { Logger } from '../log.js';

/** Turns activator events into one log line each: a cold start with its phases, a stop with its reason. */
export class LogRecorder implements Recorder {
  constructor(private readonly log: Logger) {}

  stateChanged(app: string, from: AppState, to: AppState): void {
    this.log.debug({ app, from, to }, 'app state changed');
  }

  coldStart(app: string, e: ColdStartEvent): void {
    const fields = { app, instance: e.instance, result: e.result, spawnMs: e.spawnMs, firstByteMs: e.firstByteMs, acceptMs: e.acceptMs };
    const took = e.firstByteMs ?? e.acceptMs;
    if (e.result === 'ok') this.log.info(fields, took === undefined ? `cold start of ${app} done` : `cold start of ${app} took ${took} ms`);
    else if (e.result === 'abandoned') this.log.warn(fields, `start of ${app} abandoned: no answer within startTimeout, and every waiting client had left`);
    else this.log.warn({ ...fields, err: e.error }, `failed to start ${app}`);
  }

  instanceExited(app: string, e: ExitEvent): void {
    const fields = { app, instance: e.instance, pid: e.pid, reason: e.reason, code: e.exit.code, signal: e.exit.signal, lifetimeMs: e.lifetimeMs, backoffMs: e.backoffMs };
    const unexpected = e.reason === 'crash' || e.reason === 'oom' || e.reason === 'killed';
    if (unexpected) this.log.warn(fields, `instance of ${app} exited unexpectedly`);
    else this.log.info(fields, `instance of ${app} stopped (${e.reason})`);
  }

  load(): void {
    // Per-request counts are for metrics; logging them would be one line per request.
  }
}
