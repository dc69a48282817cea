import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { BackoffError, InstanceCrashedError, QueueFullError, UnavailableError, type WakegateError } from '../errors.js';
import { describeExit, type ExitInfo, type Instance } from '../runtime/runtime.js';
import type { ActivatorDeps, ActivitySample } from './activator-deps.js';
import { Backoff } from './backoff.js';
import { AppRecord } from './app-record.js';
import { Generation, type Lease } from './generation.js';
import { IdleTimer } from './idle-timer.js';
import { Outcomes } from './outcomes.js';
import { StopBarrier } from './stop-barrier.js';
import type { AppState, ExitReason } from './recorder.js';

export type { Lease, ActivatorDeps, ActivitySample };


/** Response timeouts in a row after which a running instance is replaced. */
const UNRESPONSIVE_AFTER = DEFAULTS.internal.unresponsiveAfter;

/**
 * The per-app state machine: stopped → starting → running → stopping → stopped. It starts an instance on the
 * first lease (once, however many requests arrive together), counts activity, stops the instance after
 * `idleTimeout` of quiet, and turns unexpected exits into crash-loop backoff.
 */
export class AppActivator {
  private current: AppState = 'stopped';
  private gen: Generation | undefined;
  private readonly stopping = new StopBarrier();
  private closedFor: 'removed' | 'shutdown' | undefined;
  private readonly backoff = new Backoff();
  private readonly idle = new IdleTimer(() => this.gen && this.stop(this.gen, 'idle'));
  private readonly outcomes: Outcomes;
  private conns = 0;

  /** Counts and last events, for status; also the one way events reach the recorder. */
  readonly record: AppRecord;
  private readonly now: () => number;

  constructor(
    private appSpec: AppSpec,
    private readonly deps: ActivatorDeps,
  ) {
    this.record = new AppRecord(appSpec.name, deps.recorder);
    this.now = deps.now ?? Date.now;
    this.outcomes = new Outcomes(appSpec.name, this.record, this.backoff);
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
  /** Requests waiting: for the start (already sent, not yet answered), for a breaker slot, or for a stop to end. */
  get queued(): number {
    const gen = this.gen;
    return (gen && !gen.confirmed ? gen.waiting.size : 0) + (gen?.breaker.waiting ?? 0) + this.stopping.waiters;
  }
  /** Connections on the app's own sockets at the last activity sample; 0 while stopped. */
  get connections(): number {
    return this.conns;
  }
  get idleDeadline(): number | undefined {
    return this.idle.deadline;
  }
  /** Milliseconds until a start is allowed again after crashes; 0 when it is allowed now. */
  get backoffRemainingMs(): number {
    return this.backoff.remaining(this.now());
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
      if ((this.current === 'running' || this.current === 'starting') && gen) {
        // Past `concurrency` in flight the request waits its turn; past `queueLimit` waiting, it is refused.
        if (this.current === 'starting' || !gen.breaker.free) this.checkQueue();
        // Synchronously when a slot is free: the lease must be on this generation even if it fails at once.
        if (gen.breaker.tryTake()) return this.lease(gen, !gen.confirmed);
        const slot = gen.breaker.wait();
        this.report();
        const held = await slot;
        if (held && gen === this.gen && !gen.stopReason) return this.lease(gen, !gen.confirmed);
        // The wait ended with the instance going away: look again, like any request arriving now.
        if (held) gen.breaker.release();
        continue;
      }
      if (this.current === 'stopping') {
        // The instance is on its way out; the request waits for it to be gone, then starts a new one.
        this.checkQueue();
        await this.stopping.wait(() => this.report());
        continue;
      }
      this.start();
    }
  }

  /** Starts an instance without a request (admin); it counts as running at its first answer, or after startTimeout. */
  start(): void {
    if (this.closedFor) throw new UnavailableError(this.name, this.closedFor);
    if (this.current !== 'stopped') return;
    const wait = this.backoff.remaining(this.now());
    if (wait > 0) throw new BackoffError(this.name, wait);
    this.startGeneration();
  }

  /** A connection waits on an app socket: start unless an instance exists. False: none may start now (closed, backoff). */
  wake(): boolean {
    if (this.closedFor) return false;
    if (this.current !== 'stopped') return true;
    if (this.backoff.remaining(this.now()) > 0) return false;
    this.startGeneration(true);
    return true;
  }

  /** The woken instance has drained its accept queue: its cold start is over (phase `accept`). */
  accepted(): void {
    const gen = this.gen;
    if (gen?.instance && !gen.confirmed && this.current === 'starting') this.confirm(gen, 'accept');
  }

  /** A sample of the app's sockets: a busy one restarts the idle countdown from now. */
  activity(sample: ActivitySample): void {
    const gen = this.gen;
    // A sample taken while the instance still ran may arrive after it stopped: it describes nothing now.
    if (!gen) return;
    this.conns = sample.connections;
    if (!sample.busy || this.current !== 'running') return;
    this.idle.disarm();
    this.maybeIdle(gen);
  }

  /** Calls `listener` after every state change (once the recorder has it); returns the unsubscribe. */
  onStateChange(listener: (state: AppState) => void): () => void {
    return this.record.onStateChange(listener);
  }

  /** Lets in-flight work finish (up to `graceMs`), holding new requests, then stops; those then start anew. */
  drain(graceMs: number): Promise<void> {
    return this.stopInstance('drain', undefined, graceMs);
  }

  /** Stops the instance, if any. Requests still on it complete unless `failure` is given. */
  async stopInstance(reason: ExitReason, failure?: WakegateError, quietMs?: number): Promise<void> {
    if (this.gen) this.stop(this.gen, reason, failure, quietMs);
    await this.stopping.done;
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

  private startGeneration(woken = false): void {
    const spec = this.appSpec;
    const gen = new Generation(spec, this.deps.createUpstream(spec), this.now());
    gen.woken = woken;
    this.gen = gen;
    this.setState('starting');
    gen.startTimer = setTimeout(() => this.onStartTimeout(gen), spec.startTimeoutMs);
    this.deps.runtimeFor(spec).start(spec, this.deps.sockets(), this.deps.log).then(
      (instance) => {
        gen.instance = instance;
        gen.spawnedAt = this.now();
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
      responded: () => gen.confirmed || this.confirm(gen, 'first_byte'),
      unanswered: () => gen.unansweredInARow >= UNRESPONSIVE_AFTER && !gen.stopReason && this.replaceUnresponsive(gen),
      released: () => (this.report(), this.maybeIdle(gen)),
    });
    this.report();
    return lease;
  }

  /** Stops as `unresponsive` (counted for backoff) an instance that leaves requests unanswered or its accept queue stuck
   * (it closed its listener, or hangs): it would otherwise stay up for as long as traffic keeps it from going idle. */
  replaceUnresponsive(gen = this.gen): void {
    if (!gen || gen.stopReason || gen !== this.gen) return;
    this.backoff.recordFailure(this.now(), 0);
    this.stop(gen, 'unresponsive');
  }

  private confirm(gen: Generation, via: 'first_byte' | 'accept'): void {
    const now = this.now();
    gen.runningSince = now;
    clearTimeout(gen.startTimer);
    gen.waiting.clear();
    if (gen !== this.gen || this.current !== 'starting') return;
    this.setState('running');
    this.record.coldStart({
      instance: gen.instance?.id,
      result: 'ok',
      spawnMs: gen.spawnMs,
      firstByteMs: via === 'first_byte' ? now - gen.triggeredAt : undefined,
      ...(via === 'accept' ? { acceptMs: now - gen.triggeredAt } : {}),
    });
    this.report();
    this.maybeIdle(gen);
  }

  private onStartTimeout(gen: Generation): void {
    if (gen.confirmed || gen.stopReason) return;
    this.stop(gen, 'start_timeout', this.outcomes.startTimedOut(gen, this.now()));
  }

  private onStartFailed(gen: Generation, err: unknown): void {
    clearTimeout(gen.startTimer);
    this.outcomes.startFailed(gen, err, this.now());
    gen.upstream.destroy(gen.failure!);
    this.finish(gen);
  }

  private onExit(gen: Generation, instance: Instance, exit: ExitInfo): void {
    clearTimeout(gen.startTimer);
    this.outcomes.exited(gen, instance, exit, this.now());
    gen.cut(new InstanceCrashedError(this.name, describeExit(exit)));
    gen.becameQuiet();
    this.finish(gen);
  }

  /** The generation is over: its instance is gone (or never came). */
  private finish(gen: Generation): void {
    gen.breaker.cancelAll();
    if (gen !== this.gen) return;
    this.gen = undefined;
    this.conns = 0;
    this.idle.disarm();
    this.setState('stopped');
    this.stopping.end();
    this.report();
  }

  private stop(gen: Generation, reason: ExitReason, failure?: WakegateError, quietMs?: number): void {
    if (gen.stopReason || gen !== this.gen) return;
    gen.stopReason = reason;
    clearTimeout(gen.startTimer);
    this.idle.disarm();
    this.setState('stopping');
    this.stopping.begin();
    // Requests waiting for a slot look again, and wait for this stop to end like any new request.
    gen.breaker.cancelAll();
    if (failure) gen.cut(failure);
    else gen.upstream.close();
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
