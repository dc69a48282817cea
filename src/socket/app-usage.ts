/**
 * The idle rule of one socket-mode app, applied to one kernel sample of its listeners: how many connections
 * it has, whether anything used it since the previous sample, and whether its accept queue is stuck.
 * Pure bookkeeping over numbers; the sampler gathers them (activity-sampler.ts).
 */
import type { ListenerCounters } from './kernel-counters.js';

export interface UsageVerdict {
  readonly connections: number;
  readonly busy: boolean;
  /** The accept queue has been non-empty and not shrinking for this long (ms); 0 when it is not. */
  readonly stuckMs: number;
}

/** One CPU reading of the instance: its total CPU time and when it was read. */
export interface CpuReading {
  readonly ns: number;
  readonly at: number;
}

/** What the rule needs besides the counters: the CPU share threshold and a way to read the CPU time. */
export interface UsageInputs {
  /** Fraction of one core at or above which byte-less connections count as used. */
  readonly busyCpu: number;
  readonly intervalMs: number;
  readonly now: number;
  readCpuNs(): Promise<number | null>;
}

/** Per instance: a new instance starts with fresh usage (0 connections, no CPU baseline). */
export class AppUsage {
  #connections = 0;
  private cpu: CpuReading | undefined;
  private queue = 0;
  private stuckSince: number | undefined;

  constructor(readonly instanceId: string) {}

  /** At the last judged sample. */
  get connections(): number {
    return this.#connections;
  }

  /**
   * busy when: the connection count changed; or TCP bytes moved on any listener; or, on a listener whose
   * kernel gives no byte counts (Unix, or the /proc fallback) and that has connections, bytes wait in
   * their queues or the instance used at least `busyCpu` of a core since the previous CPU reading.
   */
  async judge(listeners: readonly ListenerCounters[], inputs: UsageInputs): Promise<UsageVerdict> {
    let connections = 0;
    let moved = false;
    let unknown = false;
    let queue = 0;
    for (const l of listeners) {
      connections += l.connections;
      queue += l.acceptQueue;
      if (l.bytesMoved !== null) moved ||= l.bytesMoved > 0;
      else if (l.connections > 0) {
        if ((l.queuedBytes ?? 0) > 0) moved = true;
        else unknown = true;
      }
    }
    const changed = connections !== this.#connections;
    this.#connections = connections;
    const busy = changed || moved || (unknown && (await this.cpuBusy(inputs)));
    return { connections, busy, stuckMs: this.stuck(queue, inputs.now) };
  }

  /**
   * The share of a core used since the previous reading. A reading older than two intervals is only a
   * baseline: averaged over a long quiet span, an old burst would pass for use now.
   */
  private async cpuBusy(inputs: UsageInputs): Promise<boolean> {
    const ns = await inputs.readCpuNs();
    if (ns === null) return false;
    const previous = this.cpu;
    this.cpu = { ns, at: inputs.now };
    if (!previous || inputs.now - previous.at > 2 * inputs.intervalMs || inputs.now <= previous.at) return false;
    const share = (ns - previous.ns) / ((inputs.now - previous.at) * 1e6);
    return share >= inputs.busyCpu;
  }

  /**
   * A queue that shrank was drained by accepts, however many arrived meanwhile; one that stays non-empty
   * without ever shrinking has nobody accepting (the instance closed its socket, or hangs).
   */
  private stuck(queue: number, now: number): number {
    const shrank = queue < this.queue;
    this.queue = queue;
    if (queue === 0 || shrank) {
      this.stuckSince = undefined;
      return 0;
    }
    this.stuckSince ??= now;
    return now - this.stuckSince;
  }
}
