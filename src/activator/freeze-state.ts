import { ActivatorState } from './activator-state.js';
import type { Generation } from './generation.js';
import type { ExitReason } from './recorder.js';

/**
 * The freeze tier of an activator: a running instance quiet for `freezeAfter` is frozen (its runtime's
 * `freeze()`; a runtime without one never freezes), and whatever wants it next (a request, a socket-mode
 * connection, a dependent) thaws it first. A thaw that fails leaves an instance that cannot serve: it is
 * stopped (`thaw_failed`, not counted for backoff) and the waiting requests get a cold start.
 */
export abstract class FreezeState extends ActivatorState {
  /** The freeze under way, which a thaw must wait for (the cgroup may still be freezing). */
  private freezing: Promise<unknown> | undefined;
  private thawing: Promise<void> | undefined;

  /** Stops the current instance; requests still on it complete. */
  abstract stopInstance(reason: ExitReason): Promise<void>;

  /**
   * The freeze countdown ended. Only a quiet running instance freezes; an upgraded connection keeps it
   * running, as it keeps it from an idle stop. With requests elsewhere (workers), they are asked first, as
   * for an idle stop (`confirmIdle` parks the app in each of them until the verdict is acted on), so that
   * none of them sends to an instance while it freezes; once `frozen` is pushed to them, they ask for it.
   */
  protected freezeDue(): void {
    const gen = this.gen;
    if (!gen || !this.mayFreeze(gen)) return;
    const confirm = this.deps.confirmIdle;
    if (!confirm) return this.freezeNow(gen);
    void confirm(gen.id).then(
      (quiet) => (quiet ? this.freezeNow(gen) : this.maybeIdle(gen)),
      () => this.maybeIdle(gen),
    );
  }

  private mayFreeze(gen: Generation): boolean {
    if (gen !== this.gen || !gen.instance?.freeze || this.current !== 'running' || this.closedFor) return false;
    // Connections on the app's own `listen` sockets are invisible to the gateway: an open one may speak at any
    // time. (An HTTP-only app's count is the pools' of worker processes, whose requests confirmIdle sees.)
    const held = gen.spec.listen.length > 0 && this.conns > 0;
    return gen.inflight + gen.upgraded.size === 0 && this.holders.size === 0 && !held;
  }

  private freezeNow(gen: Generation): void {
    const instance = gen.instance;
    if (!this.mayFreeze(gen) || !instance?.freeze) return;
    this.setState('frozen');
    const freezing = instance.freeze();
    this.freezing = freezing;
    freezing.then(
      () => undefined,
      (err: unknown) => {
        this.deps.log.warn({ app: this.name, instance: instance.id, err }, 'failed to freeze the instance; it keeps running');
        // A thaw under way ends the frozen state itself.
        if (gen === this.gen && this.current === 'frozen' && !this.thawing) this.setState('running');
      },
    );
  }

  /**
   * A dependent began (`on`) or ceased to run: while any runs this app is not idle (nor frozen: a dependent
   * that starts thaws it); its countdowns start as the last stops.
   */
  hold(dependent: string, on: boolean): void {
    if (on) this.holdersToChange.add(dependent);
    else if (!this.holdersToChange.delete(dependent)) return;
    this.idle.disarm();
    if (on && this.current === 'frozen') void this.thaw();
    if (this.gen) this.maybeIdle(this.gen);
  }

  /**
   * Thaws the frozen instance; resolves once it runs again (state `running`) or, when the thaw failed,
   * once its stop has begun (state `stopping`). Concurrent callers share one thaw.
   */
  protected thaw(): Promise<void> {
    const gen = this.gen;
    const instance = gen?.instance;
    if (!gen || !instance || this.current !== 'frozen') return Promise.resolve();
    this.thawing ??= (async () => {
      try {
        await this.freezing?.catch(() => undefined);
        if (instance.thaw) await instance.thaw();
        if (gen === this.gen && this.current === 'frozen') {
          this.setState('running');
          // The stop's countdown still runs from the last activity; the freeze's starts again.
          this.maybeIdle(gen);
        }
      } catch (err) {
        this.deps.log.warn({ app: this.name, instance: instance.id, err }, 'failed to thaw the instance; stopping it for a cold start');
        if (gen === this.gen) void this.stopInstance('thaw_failed');
      } finally {
        this.thawing = undefined;
        this.freezing = undefined;
      }
    })();
    return this.thawing;
  }
}
