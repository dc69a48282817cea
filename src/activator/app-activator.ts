import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import {
  BackoffError,
  InstanceCrashedError,
  QueueFullError,
  StartFailedError,
  StartTimeoutError,
  UnavailableError,
  type WakegateError,
} from '../errors.js';
import type { Logger } from '../log.js';
import { describeExit, type ExitInfo, type Instance, type Runtime } from '../runtime/runtime.js';
import type { Upstream } from '../upstream/pool.js';
import { Backoff } from './backoff.js';
import { AppRecord } from './app-record.js';
import { Generation, type Lease } from './generation.js';
import { IdleTimer } from './idle-timer.js';
import type { AppState, ExitReason, Recorder } from './recorder.js';

export type { Lease };

/** Response timeouts in a row after which a running instance is replaced. */
export const UNRESPONSIVE_AFTER = DEFAULTS.internal.unresponsiveAfter;

export interface ActivatorDeps {
  /** Asked at every start, so that a reload that changes an app's runtime takes effect at its next start. */
  readonly runtimeFor: (spec: AppSpec) => Runtime;
  /** The app socket fd, handed to every instance as fd 3. */
  readonly socketFd: number;
  readonly createUpstream: () => Upstream;
  readonly recorder: Recorder;
  readonly log: Logger;
}

/**
 * The per-app state machine: stopped → starting → running → stopping → stopped. It starts an instance on the
 * first lease (once, however many requests arrive together), counts activity, stops the instance after
 * `idleTimeout` of quiet, and turns unexpected exits into crash-loop backoff.
 */
export class AppActivator {
  private current: AppState = 'stopped';
  private gen: Generation | undefined;
  private stoppingWaiters = 0;
  private stoppedSignal: Promise<void> = Promise.resolve();
  private signalStopped: () => void = () => {};
  private closedFor: 'removed' | 'shutdown' | undefined;
  private readonly backoff = new Backoff();
  private readonly idle = new IdleTimer(() => this.gen && this.stop(this.gen, 'idle'));

  /** Counts and last events, for status; also the one way events reach the recorder. */
  readonly record: AppRecord;

  constructor(
    private appSpec: AppSpec,
    private readonly deps: ActivatorDeps,
  ) {
    this.record = new AppRecord(appSpec.name, deps.recorder);
  }

  get name(): string {
    return this.appSpec.name;
  }
  get spec(): AppSpec {
    return this.appSpec;
  }
  get state(): AppState {
    return this.current;
  }
  get instance(): Instance | undefined {
    return this.gen?.instance;
  }
  /** The kind of runtime the app runs on: the running instance's, else what its next start would use (`auto` resolved). */
  get runtime(): string {
    return this.gen?.instance?.runtime ?? this.deps.runtimeFor(this.appSpec).kind;
  }
  get inflight(): number {
    return this.gen?.inflight ?? 0;
  }
  get queued(): number {
    return (this.gen && !this.gen.confirmed ? this.gen.waiting.size : 0) + this.stoppingWaiters;
  }
  get idleDeadline(): number | undefined {
    return this.idle.deadline;
  }
  /** Milliseconds until a start is allowed again after crashes; 0 when it is allowed now. */
  get backoffRemainingMs(): number {
    return this.backoff.remaining(Date.now());
  }

  /** A changed spec takes effect at the next start; a running instance keeps the spec it started with. */
  updateSpec(spec: AppSpec): void {
    this.appSpec = spec;
  }

  /** Resolves when the request may be sent. Throws a WakegateError when it must be answered by the gateway. */
  async acquire(): Promise<Lease> {
    this.record.request();
    for (;;) {
      if (this.closedFor) throw new UnavailableError(this.name, this.closedFor);
      const gen = this.gen;
      if (this.current === 'running' && gen) return this.lease(gen, false);
      if (this.current === 'starting' && gen) {
        this.checkQueue();
        return this.lease(gen, true);
      }
      if (this.current === 'stopping') {
        // The instance is on its way out; the request waits for it to be gone, then starts a new one.
        this.checkQueue();
        this.stoppingWaiters += 1;
        this.report();
        try {
          await this.stoppedSignal;
        } finally {
          this.stoppingWaiters -= 1;
        }
        continue;
      }
      this.start();
    }
  }

  /** Starts an instance without a request (admin); it counts as running at its first answer, or after startTimeout. */
  start(): void {
    if (this.closedFor) throw new UnavailableError(this.name, this.closedFor);
    if (this.current !== 'stopped') return;
    const wait = this.backoff.remaining(Date.now());
    if (wait > 0) throw new BackoffError(this.name, wait);
    this.startGeneration();
  }

  /** Lets in-flight work finish (up to `graceMs`), holding new requests, then stops; those then start anew. */
  drain(graceMs: number): Promise<void> {
    return this.stopInstance('drain', undefined, graceMs);
  }

  /** Stops the instance, if any. Requests still on it complete unless `failure` is given. */
  async stopInstance(reason: ExitReason, failure?: WakegateError, quietMs?: number): Promise<void> {
    if (this.gen) this.stop(this.gen, reason, failure, quietMs);
    await this.stoppedSignal;
  }

  /** Refuses new requests from now on, lets in-flight ones finish for up to `graceMs`, then stops the instance. */
  async close(reason: 'removed' | 'shutdown', graceMs: number): Promise<void> {
    this.closedFor = reason;
    const gen = this.gen;
    if (gen) await gen.quiet(graceMs);
    await this.stopInstance(reason, new UnavailableError(this.name, reason));
  }

  private checkQueue(): void {
    if (this.queued >= (this.gen ?? this).spec.queueLimit) throw new QueueFullError(this.name, (this.gen ?? this).spec.queueLimit);
  }

  private startGeneration(): void {
    const spec = this.appSpec;
    const gen = new Generation(spec, this.deps.createUpstream(), Date.now());
    this.gen = gen;
    this.setState('starting');
    gen.startTimer = setTimeout(() => this.onStartTimeout(gen), spec.startTimeoutMs);
    this.deps.runtimeFor(spec).start(spec, [this.deps.socketFd], this.deps.log).then(
      (instance) => {
        gen.instance = instance;
        gen.spawnedAt = Date.now();
        void instance.exited.then((exit) => this.onExit(gen, instance, exit));
        // Stopped (shutdown, timeout) while the runtime was still starting it.
        if (gen.stopReason) void instance.stop(spec.stopTimeoutMs);
      },
      (err: unknown) => this.onStartFailed(gen, err),
    );
  }

  private lease(gen: Generation, queued: boolean): Lease {
    this.idle.disarm();
    const lease = gen.lease(queued, {
      responded: () => gen.confirmed || this.confirm(gen, true),
      // A running instance that leaves request after request unanswered (it closed its listener, or hangs)
      // would otherwise stay up for as long as traffic keeps it from going idle.
      unanswered: () => gen.unansweredInARow >= UNRESPONSIVE_AFTER && !gen.stopReason && this.replace(gen),
      released: () => (this.report(), this.maybeIdle(gen)),
    });
    this.report();
    return lease;
  }

  private replace(gen: Generation): void {
    this.backoff.recordFailure(Date.now(), 0);
    this.stop(gen, 'unresponsive');
  }

  private confirm(gen: Generation, answered: boolean): void {
    const now = Date.now();
    gen.runningSince = now;
    clearTimeout(gen.startTimer);
    gen.waiting.clear();
    if (gen !== this.gen || this.current !== 'starting') return;
    this.setState('running');
    this.record.coldStart({
      instance: gen.instance?.id,
      result: 'ok',
      spawnMs: gen.spawnedAt === undefined ? undefined : gen.spawnedAt - gen.triggeredAt,
      firstByteMs: answered ? now - gen.triggeredAt : undefined,
    });
    this.report();
    this.maybeIdle(gen);
  }

  private onStartTimeout(gen: Generation): void {
    if (gen.confirmed || gen.stopReason) return;
    // Nobody is waiting (every client gave up): no evidence either way, so let it run and go idle as usual
    // rather than count a failure that no request saw.
    if (gen.inflight === 0) return this.confirm(gen, false);
    const failure = new StartTimeoutError(this.name, gen.spec.startTimeoutMs);
    this.record.coldStart({ instance: gen.instance?.id, result: 'timeout', spawnMs: undefined, firstByteMs: undefined, error: failure });
    this.backoff.recordFailure(Date.now(), 0);
    this.stop(gen, 'start_timeout', failure);
  }

  private onStartFailed(gen: Generation, err: unknown): void {
    const failure = new StartFailedError(this.name, { cause: err });
    clearTimeout(gen.startTimer);
    gen.failure ??= failure;
    gen.upstream.destroy(gen.failure);
    if (!gen.stopReason) {
      this.backoff.recordFailure(Date.now(), 0);
      this.record.coldStart({ instance: undefined, result: 'failed', spawnMs: undefined, firstByteMs: undefined, error: failure });
    }
    this.finish(gen);
  }

  private onExit(gen: Generation, instance: Instance, exit: ExitInfo): void {
    const now = Date.now();
    clearTimeout(gen.startTimer);
    let reason = gen.stopReason;
    let backoffMs: number | undefined;
    if (reason) {
      if (gen.runningSince !== undefined) this.backoff.recordSuccess(now - gen.runningSince);
    } else {
      reason = exit.oom ? 'oom' : exit.signal ? 'killed' : 'crash';
      gen.failure ??= new InstanceCrashedError(this.name, describeExit(exit));
      backoffMs = this.backoff.recordFailure(now, gen.runningSince === undefined ? 0 : now - gen.runningSince);
      if (!gen.confirmed) {
        this.record.coldStart({ instance: instance.id, result: 'failed', spawnMs: undefined, firstByteMs: undefined, error: gen.failure });
      }
    }
    // Whatever is still on this instance's connections cannot be answered any more.
    gen.upstream.destroy(gen.failure ?? new InstanceCrashedError(this.name, describeExit(exit)));
    for (const close of gen.upgraded) close();
    gen.becameQuiet();
    this.record.exited({
      instance: instance.id,
      pid: instance.pid,
      reason,
      exit,
      lifetimeMs: now - (gen.spawnedAt ?? gen.triggeredAt),
      ...(backoffMs === undefined ? {} : { backoffMs }),
    });
    this.finish(gen);
  }

  /** The generation is over: its instance is gone (or never came). */
  private finish(gen: Generation): void {
    if (gen !== this.gen) return;
    this.gen = undefined;
    this.idle.disarm();
    this.setState('stopped');
    this.signalStopped();
    this.report();
  }

  private stop(gen: Generation, reason: ExitReason, failure?: WakegateError, quietMs?: number): void {
    if (gen.stopReason || gen !== this.gen) return;
    gen.stopReason = reason;
    clearTimeout(gen.startTimer);
    this.idle.disarm();
    this.setState('stopping');
    this.stoppedSignal = new Promise((done) => (this.signalStopped = done));
    if (failure) {
      gen.failure ??= failure;
      gen.upstream.destroy(failure);
      for (const close of gen.upgraded) close();
    } else {
      gen.upstream.close();
    }
    const kill = (): void => void gen.instance?.stop(gen.spec.stopTimeoutMs);
    if (quietMs === undefined) kill();
    else void gen.quiet(quietMs).then(kill);
  }

  private maybeIdle(gen: Generation): void {
    if (gen !== this.gen || this.current !== 'running' || this.closedFor) return;
    if (gen.inflight === 0 && gen.upgraded.size === 0) this.idle.arm(gen.spec.idleTimeoutMs);
  }

  private setState(next: AppState): void {
    const prev = this.current;
    if (prev === next) return;
    this.current = next;
    this.record.stateChanged(prev, next);
  }

  private report(): void {
    this.record.load(this.inflight, this.queued);
  }
}
