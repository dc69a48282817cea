import { InstanceCrashedError, StartFailedError, StartTimeoutError } from '../errors.js';
import { describeExit, type ExitInfo, type Instance } from '../runtime/runtime.js';
import type { AppRecord } from './app-record.js';
import type { Backoff } from './backoff.js';
import type { Generation } from './generation.js';

/**
 * How each way a generation can end counts: for the crash backoff, and in the cold-start and exit records.
 * The activator decides what to do next; this only books what happened.
 */
export class Outcomes {
  constructor(
    private readonly app: string,
    private readonly record: AppRecord,
    private readonly backoff: Backoff,
  ) {}

  /** startTimeout passed unconfirmed; returns the failure to cut the generation's requests with. */
  startTimedOut(gen: Generation, now: number): StartTimeoutError {
    const failure = new StartTimeoutError(this.app, gen.spec.startTimeoutMs);
    // Every client left before the instance answered: no request was left to prove it, so no evidence against
    // it (no backoff); but an instance never seen to answer must not pass for running, so it stops all the same.
    // A start woken by a socket always has its evidence: the connections still wait in the accept queue.
    const abandoned = gen.inflight === 0 && !gen.woken;
    this.record.coldStart({ instance: gen.instance?.id, result: abandoned ? 'abandoned' : 'timeout', spawnMs: gen.spawnMs, firstByteMs: undefined, error: failure });
    if (!abandoned) this.backoff.recordFailure(now, 0);
    return failure;
  }

  /** The runtime could not start the instance. */
  startFailed(gen: Generation, err: unknown, now: number): void {
    gen.failure ??= new StartFailedError(this.app, { cause: err });
    if (gen.stopReason) return;
    this.backoff.recordFailure(now, 0);
    this.record.coldStart({ instance: undefined, result: 'failed', spawnMs: undefined, firstByteMs: undefined, error: gen.failure });
  }

  /** The instance is gone, asked to (gen.stopReason) or not. */
  exited(gen: Generation, instance: Instance, exit: ExitInfo, now: number): void {
    const reason = gen.reasonFor(exit);
    let backoffMs: number | undefined;
    if (gen.stopReason) {
      this.backoff.recordStopped(reason, gen.runningSince === undefined ? undefined : now - gen.runningSince);
    } else {
      gen.failure ??= new InstanceCrashedError(this.app, describeExit(exit));
      backoffMs = this.backoff.recordFailure(now, gen.runningSince === undefined ? 0 : now - gen.runningSince);
      if (!gen.confirmed) {
        this.record.coldStart({ instance: instance.id, result: 'failed', spawnMs: undefined, firstByteMs: undefined, error: gen.failure });
      }
    }
    this.record.exited({
      instance: instance.id,
      pid: instance.pid,
      reason,
      exit,
      lifetimeMs: now - (gen.spawnedAt ?? gen.triggeredAt),
      ...(backoffMs === undefined ? {} : { backoffMs }),
    });
  }
}
