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
export class ReadableWatch {
  #polls: PollHandle[] = [];

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
    const polls: PollHandle[] = [];
    const fire = (fd: number, err: SyscallError | undefined): void => {
      // libuv may have the sibling fds' readiness already in hand; stopping them here drops it.
      if (this.#polls !== polls) return;
      this.disarm();
      if (err) onError(err, fd);
      else onPending(fd);
    };
    try {
      for (const fd of this.fds) polls.push(pollReadable(fd, (err) => fire(fd, err)));
    } catch (err) {
      for (const poll of polls) poll.stop();
      throw err;
    }
    this.#polls = polls;
  }

  /** Stops watching; no callback runs after it. Idempotent. */
  disarm(): void {
    const polls = this.#polls;
    this.#polls = [];
    for (const poll of polls) poll.stop();
  }
}
