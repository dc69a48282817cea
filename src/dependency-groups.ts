import type { Dependencies } from './activator/activator-deps.js';
import { isFailure, type AppState, type ColdStartEvent, type ExitEvent, type ExitReason, type Recorder } from './activator/recorder.js';
import { DependencyError, InstanceCrashedError, StartFailedError, StartTimeoutError, type WakegateError } from './errors.js';
import type { Logger } from './log.js';
import { describeExit } from './runtime/runtime.js';

/** What the relation needs of an app's activator; AppActivator has this shape. */
export interface Member {
  readonly name: string;
  readonly spec: { readonly dependsOn?: readonly string[] };
  readonly state: AppState;
  readonly backoffRemainingMs: number;
  readonly startBlockedMs: number;
  hold(dependent: string, on: boolean): void;
  stopInstance(reason: ExitReason, failure?: WakegateError): Promise<void>;
}

export interface GroupDeps {
  /** The served app of that name, if any. */
  readonly app: (name: string) => Member | undefined;
  readonly apps: () => Iterable<Member>;
  /** Wakes the app as a connection waiting on its sockets does; false when it may not start now. */
  readonly wake: (name: string) => boolean;
  readonly log: Logger;
}

function dependsOn(app: Member | undefined): readonly string[] {
  return app?.spec.dependsOn ?? [];
}

/** What went wrong with a failed start, said of the dependency (the dependent's error names it). */
function failure(e: ColdStartEvent): string {
  const err = e.error;
  if (err instanceof InstanceCrashedError) return `its instance exited (${err.exit})`;
  if (err instanceof StartTimeoutError) return `it did not start within ${err.timeoutMs} ms`;
  if (err instanceof StartFailedError) return `the runtime could not start it${err.cause instanceof Error ? ` (${err.cause.message})` : ''}`;
  return err?.message ?? `its start ended: ${e.result}`;
}

/**
 * The `dependsOn` relation at work. Waking an app wakes its dependencies in the same tick, before its own
 * start and in no order: each dependency's sockets already listen, so the app's first connection to one
 * simply waits in that socket's backlog until the dependency accepts. Nothing polls for readiness. While
 * an app is not stopped it holds each dependency up (the dependency's idle countdown starts only when its
 * last dependent has stopped). A dependency whose start fails fails the start of every dependent still
 * starting, so that their waiting requests get 503 naming it. It reads the apps' events as a Recorder.
 */
export class DependencyGroups implements Recorder {
  /** What each app holds up now: its dependsOn while it is not stopped, as last applied. */
  private readonly holding = new Map<string, ReadonlySet<string>>();
  /** Dependencies a dependent woke while they were still stopping: woken again once they have stopped. */
  private readonly wakeWhenStopped = new Set<string>();

  constructor(private readonly deps: GroupDeps) {}

  /** The hooks of the named app's activator; they read its spec at each start, so a reload's relation applies. */
  for(name: string): Dependencies {
    return { blocked: () => this.blocked(name), wake: () => this.wakeDependencies(name) };
  }

  /** The apps holding `name` up now. */
  holders(name: string): string[] {
    return [...this.holding].filter(([, held]) => held.has(name)).map(([app]) => app);
  }

  /**
   * Why the app may not start now: a dependency (or one of its own) that is stopped and may not start
   * either, or that is not served. A dependency that is starting, running or stopping is no obstacle.
   */
  blocked(name: string, seen = new Set<string>()): DependencyError | undefined {
    seen.add(name);
    for (const dep of dependsOn(this.deps.app(name))) {
      // The config refuses cycles; a guard all the same, since a loop here would hang the gateway.
      if (seen.has(dep)) continue;
      const app = this.deps.app(dep);
      if (!app) return new DependencyError(name, dep, 'is not served (its sockets were refused)', 1000);
      if (app.state !== 'stopped') continue;
      const wait = app.backoffRemainingMs;
      if (wait > 0) return new DependencyError(name, dep, `is crash-looping; its next start is in ${wait} ms`, wait);
      const inner = this.blocked(dep, seen);
      if (inner) return new DependencyError(name, dep, `cannot start (${inner.message})`, inner.retryAfterMs, { cause: inner });
    }
    return undefined;
  }

  /** Brings every app's holds in line with the relation now (after a reload changed it). */
  refresh(): void {
    const names = new Set([...this.holding.keys(), ...[...this.deps.apps()].map((a) => a.name)]);
    for (const name of names) this.sync(name, this.deps.app(name)?.state);
  }

  /**
   * Runs `stop` for each app once every app that depends on it (among `names`) has stopped: at shutdown
   * a dependent's last requests may still need its dependencies. Resolves with the results in `names` order.
   */
  inStopOrder<T>(names: readonly string[], dependsOnOf: (name: string) => readonly string[], stop: (name: string) => Promise<T>): Promise<T[]> {
    const started = new Map<string, Promise<T>>();
    const visiting = new Set<string>();
    // Indexed once: scanning every name for the dependents of each one made a shutdown quadratic in the apps.
    const dependents = new Map<string, string[]>();
    for (const other of names) {
      for (const dep of dependsOnOf(other)) {
        const list = dependents.get(dep);
        if (list) list.push(other);
        else dependents.set(dep, [other]);
      }
    }
    const run = (name: string): Promise<T> => {
      const known = started.get(name);
      if (known) return known;
      visiting.add(name);
      const first = (dependents.get(name) ?? []).filter((other) => other !== name && !visiting.has(other)).map(run);
      visiting.delete(name);
      const done = Promise.allSettled(first).then(() => stop(name));
      started.set(name, done);
      return done;
    };
    return Promise.all(names.map(run));
  }

  stateChanged(app: string, _from: AppState, to: AppState): void {
    this.sync(app, to);
    if (to !== 'stopped' || !this.wakeWhenStopped.delete(app)) return;
    // Not from inside the activator's own move to stopped: the rest of that move (and its listeners) comes first.
    queueMicrotask(() => {
      if (this.deps.app(app)?.state === 'stopped' && this.holders(app).length > 0) this.deps.wake(app);
    });
  }

  coldStart(app: string, e: ColdStartEvent): void {
    if (e.result === 'failed' || e.result === 'timeout') this.failed(app, failure(e), e.error);
  }

  instanceExited(app: string, e: ExitEvent): void {
    if (isFailure(e.reason)) this.failed(app, `its instance exited (${e.reason}, ${describeExit(e.exit)})`);
  }

  load(): void {
    // Counts are not part of the relation.
  }

  private wakeDependencies(name: string): void {
    for (const dep of dependsOn(this.deps.app(name))) {
      if (this.deps.app(dep)?.state === 'stopping') this.wakeWhenStopped.add(dep);
      else this.deps.wake(dep);
    }
  }

  /** `state`: the app's, as of the event being handled; undefined for an app no longer served. */
  private sync(name: string, state: AppState | undefined): void {
    const app = this.deps.app(name);
    // An app a reload removed drains on its last relation, and lets go of it once it has stopped.
    if (!app && state !== 'stopped') return;
    const want = new Set(state !== 'stopped' ? dependsOn(app) : []);
    const had = this.holding.get(name) ?? new Set<string>();
    for (const dep of had) if (!want.has(dep)) this.deps.app(dep)?.hold(name, false);
    for (const dep of want) if (!had.has(dep)) this.deps.app(dep)?.hold(name, true);
    if (want.size > 0) this.holding.set(name, want);
    else this.holding.delete(name);
  }

  /** The dependency's start failed, or its instance died of a failure: every dependent still starting fails with it. */
  private failed(dependency: string, why: string, cause?: Error): void {
    for (const app of this.deps.apps()) {
      if (app.state !== 'starting' || !dependsOn(app).includes(dependency)) continue;
      const retryAfterMs = this.deps.app(dependency)?.startBlockedMs ?? 0;
      const error = new DependencyError(app.name, dependency, `failed to start: ${why}`, retryAfterMs, cause ? { cause } : undefined);
      this.deps.log.warn({ app: app.name, dependency, error: error.message }, `failed to start ${app.name}: its dependency ${dependency} failed`);
      void app.stopInstance('dependency', error).catch((err: unknown) => this.deps.log.error({ err, app: app.name }, 'failed to stop app, ignoring'));
      this.failed(app.name, error.message, error);
    }
  }
}
