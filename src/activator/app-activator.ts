import { DEFAULTS } from '../defaults.js';
import { BackoffError, InstanceCrashedError, UnavailableError, type WakegateError } from '../errors.js';
import { describeExit, type ExitInfo, type Instance } from '../runtime/runtime.js';
import type { ActivatorDeps, ActivitySample } from './activator-deps.js';
import { FreezeState } from './freeze-state.js';
import { Generation, type Hold, type Lease, type LeaseEvents } from './generation.js';
import { Outcomes } from './outcomes.js';
import type { ExitReason } from './recorder.js';

export type { Lease, Hold, ActivatorDeps, ActivitySample };

/** Response timeouts in a row after which a running instance is replaced. */
const UNRESPONSIVE_AFTER = DEFAULTS.internal.unresponsiveAfter;

/**
 * The per-app state machine: stopped → starting → running → stopping → stopped. It starts an instance on the
 * first lease (once, however many requests arrive together), counts activity, stops the instance after
 * `idleTimeout` of quiet, and turns unexpected exits into crash-loop backoff. What it is in (and how that
 * reads) is ActivatorState's; the moves between states are here.
 */
export class AppActivator extends FreezeState {
  #outcomes: Outcomes | undefined;

  /** Made at the first start's end: an app that never starts needs none. */
  private get outcomes(): Outcomes {
    return (this.#outcomes ??= new Outcomes(this.name, this.record, this.backoff));
  }

  protected idleExpired(gen: Generation, idle: boolean): void {
    if (idle) this.stop(gen, 'idle');
    else this.maybeIdle(gen);
  }

  /**
   * The lease at once, without a Promise, when the request may be sent now (an instance starting or running,
   * a breaker slot free); undefined when it must wait, then `acquire` does the waiting. Counts the request
   * only when it returns a lease or throws, so that the `acquire` after undefined counts it once.
   */
  tryAcquire(): Lease | undefined {
    const gen = this.gen;
    // A frozen instance is thawed first; the request waits for that in `acquire`.
    if (this.current === 'frozen') return void this.thaw(), undefined;
    if (this.closedFor || !gen || (this.current !== 'running' && this.current !== 'starting')) return undefined;
    if (this.current === 'starting' || !gen.breaker.free) {
      if (this.queued >= gen.spec.queueLimit) return undefined;
    }
    if (!gen.breaker.tryTake()) return undefined;
    this.record.request();
    return this.lease(gen, !gen.confirmed);
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
      if (this.current === 'frozen') {
        await this.thaw();
        continue;
      }
      if (this.current === 'stopping') {
        // The instance is on its way out; the request waits for it to be gone, then starts a new one.
        this.checkQueue();
        await this.stopping.wait(() => this.report());
        continue;
      }
      const room = this.start();
      if (room) await room;
    }
  }

  /** Starts an instance without a request (admin); it counts as running at its first answer, or after startTimeout.
   * A promise while capacity makes room for it (room()): it settles once the start has begun, or throws why not. */
  start(): Promise<void> | undefined {
    if (this.closedFor) throw new UnavailableError(this.name, this.closedFor);
    if (this.current !== 'stopped') return;
    const wait = this.backoffRemaining();
    if (wait > 0) throw new BackoffError(this.name, wait);
    const blocked = this.deps.dependencies?.blocked();
    if (blocked) throw blocked;
    const room = this.room();
    if (room) return room.then(() => this.start());
    this.startGeneration();
    return undefined;
  }

  /** A connection waits on an app socket: start unless an instance exists. False: none may start now (closed, backoff). */
  wake(): boolean {
    if (this.closedFor) return false;
    if (this.current === 'frozen') void this.thaw();
    if (this.current !== 'stopped') return true;
    if (this.backoffRemaining() > 0 || this.deps.dependencies?.blocked()) return false;
    const room = this.deps.room?.claim();
    if (room) return room instanceof Promise && (void room.then(() => this.wake()), true);
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
    // A frozen socket-mode instance with a connection (accepted just before it froze), or in use, thaws.
    if (this.current === 'frozen' && (sample.busy || (gen.spec.listen.length > 0 && sample.connections > 0))) void this.thaw();
    if (!sample.busy || this.current !== 'running') return;
    this.idle.disarm();
    this.maybeIdle(gen);
  }

  /** Lets in-flight work finish (up to `graceMs`), holding new requests, then stops; those then start anew. */
  drain(graceMs: number): Promise<void> {
    return this.stopInstance('drain', undefined, graceMs);
  }

  /** Stops the instance, if any. Requests still on it complete unless `failure` is given. */
  async stopInstance(reason: ExitReason, failure?: WakegateError, quietMs?: number): Promise<void> {
    if (this.gen) this.stop(this.gen, reason, failure, quietMs);
    await this.stopDone;
  }

  /**
   * Refuses new requests from now on, lets in-flight ones finish for up to `graceMs`, then stops the
   * instance; with `handOver` a running instance that can outlive the gateway is left running instead
   * (detached), for the next gateway to adopt. True when it was.
   */
  async close(reason: 'removed' | 'shutdown', graceMs: number, handOver = false): Promise<boolean> {
    this.closedFor = reason;
    const gen = this.gen;
    if (gen) await gen.quiet(graceMs);
    const instance = gen?.instance;
    if (handOver && gen && gen === this.gen && this.current === 'running' && instance?.detach) {
      instance.detach();
      gen.upstream.close();
      this.finish(gen);
      return true;
    }
    await this.stopInstance(reason, new UnavailableError(this.name, reason));
    return false;
  }

  /**
   * Serves an instance a previous gateway left running, as if this one had started it and it had answered:
   * running at once (no cold start), idle from now until a request or a busy sample says otherwise.
   */
  adopt(instance: Instance): void {
    if (this.closedFor || this.current !== 'stopped') throw new Error(`app ${this.name} is ${this.closedFor ?? this.current}: cannot adopt ${instance.id}`);
    const now = this.now();
    const gen = new Generation(this.appSpec, this.deps.createUpstream(this.appSpec), now, this.deps.generationFailed);
    gen.instance = instance;
    gen.spawnedAt = now;
    gen.runningSince = now;
    this.gen = gen;
    void instance.exited.then((exit) => this.onExit(gen, instance, exit));
    this.setState('running');
    this.report();
    this.maybeIdle(gen);
  }

  private startGeneration(woken = false): void {
    this.deps.dependencies?.wake();
    const spec = this.appSpec;
    const gen = new Generation(spec, this.deps.createUpstream(spec), this.now(), this.deps.generationFailed);
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

  #events: LeaseEvents | undefined;
  /** What every lease of this app reports back; one object for all of them, made at the first lease. */
  protected get leaseEvents(): LeaseEvents {
    return (this.#events ??= {
      responded: (gen) => gen.confirmed || this.confirm(gen, 'first_byte'),
      unanswered: (gen) => gen.unansweredInARow >= UNRESPONSIVE_AFTER && !gen.stopReason && this.replaceUnresponsive(gen),
      released: (gen) => (this.report(), this.maybeIdle(gen)),
    });
  }

  private lease(gen: Generation, queued: boolean): Lease {
    this.idle.disarm();
    const lease = gen.lease(queued, this.leaseEvents);
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
    gen.cut(gen.failure!);
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

  protected maybeIdle(gen: Generation): void {
    if (gen !== this.gen || this.current !== 'running' || this.closedFor) return;
    if (gen.inflight === 0 && gen.upgraded.size === 0 && this.holders.size === 0) this.idle.arm(gen.spec.idleTimeoutMs, gen.spec.freezeAfterMs);
  }
}
