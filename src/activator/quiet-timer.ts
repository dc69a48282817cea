import { IdleTimer } from './idle-timer.js';

/**
 * The two countdowns of a quiet instance, armed and disarmed together: the idle stop (`idleTimeout`) and,
 * when the app has `freezeAfter`, the earlier freeze. Activity disarms both; a freeze leaves the stop's
 * countdown running, so that an instance is stopped `idleTimeout` after its last activity, frozen or not.
 */
export class QuietTimer {
  private readonly stop: IdleTimer;
  private readonly freeze: IdleTimer;

  constructor(onIdle: () => void, onFreeze: () => void) {
    this.stop = new IdleTimer(onIdle);
    this.freeze = new IdleTimer(onFreeze);
  }

  /** Starts the countdowns unless they already run; `freezeMs` absent: no freeze. */
  arm(idleMs: number, freezeMs?: number): void {
    this.stop.arm(idleMs);
    if (freezeMs !== undefined) this.freeze.arm(freezeMs);
  }

  disarm(): void {
    this.stop.disarm();
    this.freeze.disarm();
  }

  /** Epoch ms when the app will be stopped, or undefined when no countdown runs. */
  get deadline(): number | undefined {
    return this.stop.deadline;
  }
}
