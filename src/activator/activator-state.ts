import type { AppSpec } from '../config/types.js';
import { QueueFullError } from '../errors.js';
import type { Instance } from '../runtime/runtime.js';
import type { ActivatorDeps } from './activator-deps.js';
import { AppRecord, type StateFollower } from './app-record.js';
import { Backoff } from './backoff.js';
import type { Generation, Hold, LeaseEvents } from './generation.js';
import { QuietTimer } from './quiet-timer.js';
import type { AppState } from './recorder.js';
import { StopBarrier } from './stop-barrier.js';

const NO_HOLDERS: ReadonlySet<string> = new Set();

/**
 * What one app's activator is in: its state, its current generation, its backoff and idle countdown, and
 * how all that reads from outside (status, metrics, the admin API). Every change of state goes through
 * setState, so that the recorder and the listeners see each one.
 */
export abstract class ActivatorState {
  protected current: AppState = 'stopped';
  protected gen: Generation | undefined;
  // The barrier and the backoff are made at the first stop and the first failure; until then reads see none.
  #stopping: StopBarrier | undefined;
  protected closedFor: 'removed' | 'shutdown' | undefined;
  #backoff: Backoff | undefined;
  /** Made at the first countdown: an app that never runs needs no timers. */
  #quiet: QuietTimer | undefined;
  protected conns = 0;
  /** Requests (and admin starts) waiting for capacity to make room for this app's start. */
  private roomWaiters = 0;
  /** Dependents that run now (dependsOn): while any does, this app is not idle. */
  #holders: Set<string> | undefined;
  /** Counts and last events, for status; also the one way events reach the recorder. */
  readonly record: AppRecord;
  protected readonly now: () => number;

  constructor(
    protected appSpec: AppSpec,
    protected readonly deps: ActivatorDeps,
  ) {
    this.record = new AppRecord(appSpec.name, deps.recorder);
    this.now = deps.now ?? Date.now;
  }

  protected get stopping(): StopBarrier {
    return (this.#stopping ??= new StopBarrier());
  }

  /** Resolves when no stop is under way. */
  protected get stopDone(): Promise<void> {
    return this.#stopping?.done ?? Promise.resolve();
  }

  protected get backoff(): Backoff {
    return (this.#backoff ??= new Backoff());
  }

  /** Milliseconds until the crash backoff allows a start; 0 when it does. */
  protected backoffRemaining(): number {
    return this.#backoff?.remaining(this.now()) ?? 0;
  }

  /** Made when the first dependent holds the app: most apps have none. */
  protected get holders(): ReadonlySet<string> {
    return this.#holders ?? NO_HOLDERS;
  }

  protected get holdersToChange(): Set<string> {
    return (this.#holders ??= new Set());
  }

  protected get idle(): QuietTimer {
    return (this.#quiet ??= new QuietTimer(
      () => this.countdownEnded(),
      () => this.freezeDue(),
    ));
  }

  /** What every lease (and hold) of this app reports back. */
  protected abstract readonly leaseEvents: LeaseEvents;

  /** idleTimeout of quiet has passed, and `idle` says whether the instance may stop (see countdownEnded). */
  protected abstract idleExpired(gen: Generation, idle: boolean): void;

  /** The freeze countdown (freezeAfter) ended. */
  protected abstract freezeDue(): void;

  /** Re-arms the idle countdown if nothing holds the generation. */
  protected abstract maybeIdle(gen: Generation): void;

  /** Requests in flight on generation `id` elsewhere (a worker's) hold it like a lease; undefined when `id` is not current. */
  holdFor(id: number): Hold | undefined {
    const gen = this.gen;
    if (!gen || gen.id !== id || gen.stopReason) return undefined;
    this.idle.disarm();
    return gen.hold(this.leaseEvents);
  }

  /**
   * The countdown ended: idle, unless `confirmIdle` (requests held in other processes) says otherwise. The
   * instance runs on while it is asked: what arrives meanwhile is the asker's to hold back.
   */
  private countdownEnded(): void {
    const gen = this.gen;
    if (!gen) return;
    const confirm = this.deps.confirmIdle;
    if (!confirm) return this.idleExpired(gen, true);
    const stillIdle = (): boolean => gen === this.gen && (this.current === 'running' || this.current === 'frozen') && gen.inflight + gen.upgraded.size === 0 && this.holders.size === 0;
    void confirm(gen.id).then(
      (idle) => this.idleExpired(gen, idle && stillIdle()),
      () => this.idleExpired(gen, false),
    );
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
  /** The id of the current generation (instance, or start under way); undefined while stopped. */
  get generation(): number | undefined {
    return this.gen?.id;
  }
  get inflight(): number {
    return this.gen?.inflight ?? 0;
  }
  /** Requests waiting: for the start (already sent, not yet answered), for a breaker slot, or for a stop to end. */
  get queued(): number {
    const gen = this.gen;
    return (gen && !gen.confirmed ? gen.waiting.size : 0) + (gen?.breaker.waiting ?? 0) + (this.#stopping?.waiters ?? 0) + this.roomWaiters;
  }
  /** Requests in flight that this process sees itself: `inflight` less the holds of worker processes. */
  get inflightHere(): number {
    const gen = this.gen;
    return gen ? gen.inflight - gen.holds : 0;
  }
  /** Upgraded (WebSocket) connections open on the instance. */
  get upgradedConnections(): number {
    return this.gen?.upgraded.size ?? 0;
  }
  /** Connections on the app's own sockets at the last activity sample; 0 while stopped. */
  get connections(): number {
    return this.conns;
  }
  /**
   * Open connections on the app's own `listen` sockets (socket mode) at the last sample: like an upgraded
   * connection, one may speak at any time without the gateway seeing it. 0 for an HTTP-only app, whose
   * count is only the idle keep-alive connections of the pools.
   */
  get socketConnections(): number {
    return (this.gen?.spec.listen.length ?? 0) > 0 ? this.conns : 0;
  }
  get idleDeadline(): number | undefined {
    return this.#quiet?.deadline;
  }
  /** When the cold start under way was triggered; undefined unless one is (the instance has not answered yet). */
  get coldStartSince(): number | undefined {
    const gen = this.gen;
    return gen && !gen.confirmed && this.current === 'starting' ? gen.triggeredAt : undefined;
  }
  /** Milliseconds until a start is allowed again after crashes; 0 when it is allowed now. */
  get backoffRemainingMs(): number {
    return this.backoffRemaining();
  }

  /** Milliseconds until a start may happen: the crash backoff, or a dependency's (dependsOn); 0 when one may now. */
  get startBlockedMs(): number {
    return Math.max(this.backoffRemaining(), this.deps.dependencies?.blocked()?.retryAfterMs ?? 0);
  }
  /** The dependents that hold this app up now, in the order they began to. */
  get heldBy(): readonly string[] {
    return [...this.holders];
  }

  /** A changed spec takes effect at the next start; a running instance keeps the spec it started with. */
  updateSpec(spec: AppSpec): void {
    this.appSpec = spec;
  }

  /** Calls `listener` after every state change (once the recorder has it); returns the unsubscribe. */
  onStateChange(listener: (state: AppState) => void): () => void {
    return this.record.onStateChange(listener);
  }

  /** As onStateChange, for a follower that is an object already (no closure per app). */
  addFollower(follower: StateFollower): void {
    this.record.addFollower(follower);
  }

  removeFollower(follower: StateFollower): void {
    this.record.removeFollower(follower);
  }

  protected setState(next: AppState): void {
    const prev = this.current;
    if (prev === next) return;
    this.current = next;
    this.record.stateChanged(prev, next);
  }

  /**
   * Whether no request holds the instance where the activator cannot see it (confirmIdle: worker processes),
   * asked before an eviction; a true verdict is to be acted on at once, before the askers let requests through.
   */
  confirmUnused(): Promise<boolean> {
    const gen = this.gen;
    if (!gen) return Promise.resolve(false);
    return this.deps.confirmIdle ? this.deps.confirmIdle(gen.id) : Promise.resolve(true);
  }

  /**
   * Capacity's word before a start: undefined to start now; a promise to wait on (queued, within queueLimit)
   * while an instance is evicted for it; it throws when no room can be made.
   */
  protected room(): Promise<void> | undefined {
    const room = this.deps.room?.claim();
    if (!room) return undefined;
    if (!(room instanceof Promise)) throw room;
    if (this.queued >= this.appSpec.queueLimit) throw new QueueFullError(this.name, this.appSpec.queueLimit);
    this.roomWaiters++;
    this.report();
    return room.finally(() => {
      this.roomWaiters--;
      this.report();
    });
  }

  protected checkQueue(): void {
    if (this.queued >= (this.gen ?? this).spec.queueLimit) throw new QueueFullError(this.name, (this.gen ?? this).spec.queueLimit);
  }

  protected report(): void {
    this.record.load(this.inflight, this.queued);
  }
}
