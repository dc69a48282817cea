import type { SyscallError } from '../errors.js';
import { pollReadable, type PollHandle } from '../native/index.js';

/**
 * Watches an app's held listening sockets while it is stopped, for the first connection waiting in any
 * accept queue. The gateway never accepts: the connection stays queued in the kernel, and the instance
 * started for it accepts it (and every other queued one) from its inherited fd.
 *
 * One arm() reports at most once, however many connections arrive together: the first readable fd stops
 * the polls of all of them before onPending runs. The poll is level-triggered, so arming again while
 * connections are still queued (a start that failed, say) reports again at once.
 */
const IDLE: readonly PollHandle[] = [];
const NOTHING = (): void => {};

export class ReadableWatch {
  #polls: readonly PollHandle[] = IDLE;
  /** Which arm() the polls are of (0: none), so that a late callback of an earlier one does nothing. */
  #armed = 0;
  #arms = 0;
  #onPending: (fd: number) => void = NOTHING;
  #onError: (err: SyscallError, fd: number) => void = NOTHING;

  constructor(readonly fds: readonly number[]) {}

  get armed(): boolean {
    return this.#polls.length > 0;
  }

  /**
   * Starts watching. `onPending(fd)` names the fd that became readable; `onError` reports a failed poll
   * (the fd was closed under the watch). Either runs once, after the watch has disarmed itself.
   * Throws SyscallError when a poll cannot be set up, and then watches nothing.
   */
  arm(onPending: (fd: number) => void, onError: (err: SyscallError, fd: number) => void): void {
    if (this.armed) throw new Error('ReadableWatch is armed already');
    // Fields and one closure per fd, not a closure per arm: every stopped app is armed, 100,000 of them at once.
    const polls: PollHandle[] = [];
    const armed = ++this.#arms;
    try {
      for (const fd of this.fds) polls.push(pollReadable(fd, (err) => this.#fire(armed, fd, err)));
    } catch (err) {
      for (const poll of polls) poll.stop();
      throw err;
    }
    // Sized to fit: kept for as long as the app is stopped.
    this.#polls = polls.slice();
    this.#armed = armed;
    this.#onPending = onPending;
    this.#onError = onError;
  }

  #fire(armed: number, fd: number, err: SyscallError | undefined): void {
    // libuv may have the sibling fds' readiness already in hand; stopping them here drops it.
    if (this.#armed !== armed) return;
    const [onPending, onError] = [this.#onPending, this.#onError];
    this.disarm();
    if (err) onError(err, fd);
    else onPending(fd);
  }

  /** Stops watching; no callback runs after it. Idempotent. */
  disarm(): void {
    const polls = this.#polls;
    this.#polls = IDLE;
    this.#armed = 0;
    this.#onPending = this.#onError = NOTHING;
    for (const poll of polls) poll.stop();
  }
}
