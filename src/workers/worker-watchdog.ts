import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import type { WorkerSlot } from './worker-slot.js';

/**
 * Finds a worker that is alive but hung: its process runs (so no exit replaces it) while its event loop
 * never turns, and the connections the kernel gives it wait forever. Every `workerPingIntervalMs` each
 * worker that listens is pinged unless a ping is still out; one unanswered for `workerHangMs` is
 * SIGKILLed, and its exit replaces it as any death does (with the crash backoff).
 */
export class WorkerWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private readonly pinging = new Set<WorkerSlot>();

  constructor(
    private readonly slots: readonly WorkerSlot[],
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.round(), DEFAULTS.internal.workerPingIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private round(): void {
    for (const slot of this.slots) {
      const child = slot.child;
      if (!slot.ready || !child || this.pinging.has(slot)) continue;
      this.pinging.add(slot);
      void slot.ask((id) => ({ t: 'ping', id }), DEFAULTS.internal.workerHangMs).then((reply) => {
        this.pinging.delete(slot);
        // A reply of 'gone' is a death the exit handler sees; a later process in the slot is not this one.
        if (reply !== 'timeout' || slot.child !== child || !this.timer) return;
        this.log.error({ worker: slot.index, pid: child.pid, hangMs: DEFAULTS.internal.workerHangMs }, 'worker did not answer a ping, killing it as hung');
        child.kill('SIGKILL');
      });
    }
  }
}
