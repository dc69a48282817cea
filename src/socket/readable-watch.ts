import type { SyscallError } from '../errors.js';
import { readinessSet, type ReadinessOwner } from './readiness-set.js';

/**
 * Watches an app's held listening sockets while it is stopped, for the first connection waiting in any
 * accept queue. The gateway never accepts: the connection stays queued in the kernel, and the instance
 * started for it accepts it (and every other queued one) from its inherited fd.
 *
 * One arm() reports at most once, however many connections arrive together: the first readable fd takes
 * all of the watch's fds out of the event loop's readiness set before onPending runs, so a sibling's
 * readiness already collected in the same turn reaches nobody. The set is level-triggered, so arming
 * again while connections are still queued (a start that failed, say) reports again at once.
 *
 * Disarm before closing a watched fd: the kernel drops the entry of a closed socket silently, so a watch
 * whose fd was closed under it never reports (nor errs) again.
 */
const IDLE: readonly number[] = [];

/** Who a watch reports to: an object, so that a stopped app's watch holds no closure of its own. */
export interface WatchOwner {
  /** A connection waits on `fd`. */
  pending(fd: number): void;
  /** `fd` hung up or failed. */
  failed(err: SyscallError, fd: number): void;
}

const NOBODY: WatchOwner = { pending: () => {}, failed: () => {} };

export class ReadableWatch implements ReadinessOwner {
  /** The readiness set's tokens of `fds` while armed; IDLE while not. A lone fd's token is #token instead, without an array. */
  #tokens: readonly number[] = IDLE;
  #token = -1;
  #owner: WatchOwner = NOBODY;

  constructor(readonly fds: readonly number[]) {}

  get armed(): boolean {
    return this.#token >= 0 || this.#tokens.length > 0;
  }

  /**
   * Starts watching. `onPending(fd)` names the fd that became readable; `onError` reports an fd that hung
   * up or failed (EPOLLHUP or EPOLLERR: a listening socket shut down, by an instance that shares it, say).
   * Either runs once, after the watch has disarmed itself. Throws SyscallError when an fd cannot be
   * watched, and then watches none: EEXIST when the event loop watches that fd already (one watch per
   * fd), EBADF, EPERM for a regular file. The owner may be given as its two callbacks.
   */
  arm(owner: WatchOwner): void;
  arm(onPending: (fd: number) => void, onError: (err: SyscallError, fd: number) => void): void;
  arm(owner: WatchOwner | ((fd: number) => void), onError?: (err: SyscallError, fd: number) => void): void {
    if (this.armed) throw new Error('ReadableWatch is armed already');
    const set = readinessSet();
    // The watch itself is every fd's owner: no closure per fd or per arm, for 100,000 stopped apps at once.
    const tokens: number[] = [];
    try {
      for (const fd of this.fds) tokens.push(set.add(fd, this));
    } catch (err) {
      for (const token of tokens) set.remove(token);
      throw err;
    }
    // Sized to fit: kept for as long as the app is stopped.
    if (tokens.length === 1) this.#token = tokens[0]!;
    else this.#tokens = tokens.slice();
    this.#owner = typeof owner === 'function' ? { pending: owner, failed: onError ?? NOBODY.failed } : owner;
  }

  /** The readiness set's report; not for other callers. */
  ready(fd: number, err: SyscallError | undefined): void {
    if (!this.armed) return;
    const owner = this.#owner;
    this.disarm();
    if (err) owner.failed(err, fd);
    else owner.pending(fd);
  }

  /** Stops watching; no callback runs after it. Idempotent. */
  disarm(): void {
    if (!this.armed) return;
    const token = this.#token;
    const tokens = this.#tokens;
    this.#token = -1;
    this.#tokens = IDLE;
    this.#owner = NOBODY;
    const set = readinessSet();
    if (token >= 0) set.remove(token);
    for (const t of tokens) set.remove(t);
  }
}
