import type { AppState } from '../activator/recorder.js';
import type { Notifier } from './notifier.js';

/** "40 apps, 3 running, 2 starting": the STATUS= line systemctl status shows. */
export function statusLine(states: readonly AppState[]): string {
  const count = (s: AppState): number => states.filter((x) => x === s).length;
  const frozen = count('frozen');
  // Only when any is, so that a gateway without freezeAfter says what it always said.
  return `${states.length} app${states.length === 1 ? '' : 's'}, ${count('running')} running, ${count('starting')} starting${frozen > 0 ? `, ${frozen} frozen` : ''}`;
}

/**
 * The periodic notifications: WATCHDOG=1, sent from a timer of the event loop so that a wedged loop stops
 * sending it and systemd restarts the gateway; and STATUS=, refreshed on a timer rather than on every state
 * change, which bounds its rate however busy the apps are. Neither timer keeps the process alive.
 */
export class Heartbeat {
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly notifier: Notifier,
    private readonly status: () => string,
    private readonly statusMs: number,
    private readonly watchdogMs: number | undefined,
  ) {}

  start(): void {
    if (!this.notifier.active) return;
    this.refresh();
    this.timers.push(setInterval(() => this.refresh(), this.statusMs).unref());
    if (this.watchdogMs !== undefined) {
      this.notifier.watchdog();
      this.timers.push(setInterval(() => this.notifier.watchdog(), this.watchdogMs).unref());
    }
  }

  refresh(): void {
    this.notifier.status(this.status());
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }
}
