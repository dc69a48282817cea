import type { ChildProcess } from 'node:child_process';
import type { Hold } from '../activator/generation.js';
import { Backoff } from '../activator/backoff.js';
import { DEFAULTS } from '../defaults.js';
import type { FromWorker, ToWorker } from './protocol.js';
import type { TallySnapshot } from './tally-merge.js';

/** What came back to a question put to a worker: its answer, or why none. */
export type Reply = FromWorker | 'gone' | 'timeout';

/**
 * One worker position (index i) in the primary: the process filling it now, the generations the primary
 * holds for it (one per app and generation it said it is busy on), and the questions it has not answered.
 * A replacement takes the same position and starts with nothing held.
 */
export class WorkerSlot {
  child: ChildProcess | undefined;
  ready = false;
  startedAt = 0;
  /** app → generation → the hold (undefined when the generation had ended already: nothing to hold). */
  readonly holds = new Map<string, Map<number, Hold | undefined>>();
  /** The last tally the process sent, and the refusals of it already counted in the primary's metrics. */
  tally: TallySnapshot | undefined;
  countedRefused: Record<string, number> = {};
  readonly backoff = new Backoff();
  private readonly replies = new Map<number, (reply: Reply) => void>();
  private nextId = 0;

  constructor(readonly index: number) {}

  send(message: ToWorker): void {
    // A channel closing under us (the worker just died) is the exit handler's business.
    if (this.child?.connected) this.child.send(message, (err) => void err);
  }

  /** Sends what `build` makes with a fresh id and resolves with the answer bearing it, or 'timeout' past `ms`. */
  ask(build: (id: number) => ToWorker, ms: number = DEFAULTS.internal.workerReplyMs): Promise<Reply> {
    if (!this.child?.connected) return Promise.resolve('gone');
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.replies.delete(id);
        resolve('timeout');
      }, ms);
      this.replies.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.send(build(id));
    });
  }

  answered(id: number, reply: FromWorker): void {
    const done = this.replies.get(id);
    this.replies.delete(id);
    done?.(reply);
  }

  /** A tally the process sent; what its front refused since the last one is passed on to `refused`. */
  tallied(tally: TallySnapshot, refused: (reason: string, count: number) => void): void {
    this.tally = tally;
    for (const [reason, total] of Object.entries(tally.refused)) {
      const added = total - (this.countedRefused[reason] ?? 0);
      if (added > 0) refused(reason, added);
    }
    this.countedRefused = { ...tally.refused };
  }

  busy(app: string, generation: number, hold: (generation: number) => Hold | undefined): void {
    let gens = this.holds.get(app);
    if (!gens) this.holds.set(app, (gens = new Map()));
    if (!gens.has(generation)) gens.set(generation, hold(generation));
  }

  quiet(app: string, generation: number): void {
    const gens = this.holds.get(app);
    gens?.get(generation)?.release();
    gens?.delete(generation);
  }

  /** Holds on generations of `app` other than `current` (which ended): released. */
  dropStale(app: string, current: number | undefined): void {
    const gens = this.holds.get(app);
    if (!gens) return;
    for (const [generation, hold] of gens) {
      if (generation === current) continue;
      hold?.release();
      gens.delete(generation);
    }
  }

  /** The process is gone: everything held for it is released, every question answered `gone`. */
  gone(): void {
    this.child = undefined;
    this.ready = false;
    for (const gens of this.holds.values()) for (const hold of gens.values()) hold?.release();
    this.holds.clear();
    for (const done of [...this.replies.values()]) done('gone');
    this.replies.clear();
  }
}
