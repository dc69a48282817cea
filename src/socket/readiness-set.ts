import { constants } from 'node:os';
import { SyscallError } from '../errors.js';
import { closeFd, epollAdd, epollCreate, epollDel, epollWait, pollReadable, type PollHandle } from '../native/index.js';

/** Who hears of an fd of the set: one object per owner (a ReadableWatch), however many fds it adds. */
export interface ReadinessOwner {
  /**
   * `fd` is readable (`err` undefined) or failed: EPOLLERR or EPOLLHUP on it (a socket shut down, by an
   * instance that shares it, say), or the set itself failed. Level-triggered: reported in every turn in
   * which it holds, until the owner removes the fd, which it must do on an error.
   */
  ready(fd: number, err: SyscallError | undefined): void;
}

/** Tokens read per epoll_wait; a turn reads again while a batch comes back full. */
const BATCH = 64;
const { EPIPE } = constants.errno;

/**
 * The fds that this event loop watches for readability, in one epoll set whose own fd is the only thing
 * the loop polls: 100,000 stopped apps cost one libuv handle, and per fd an epoll entry in the kernel
 * and two array slots here, instead of a uv_poll_t, a JS callback and an async context each.
 *
 * The epoll fd and its poll exist only while the set is non-empty: a gateway with no stopped app holds
 * no extra fd, and an empty set does not keep the event loop alive (a non-empty one does, as a
 * listening server would). Entries are keyed by a small integer token, reused from a free list.
 *
 * The kernel drops an entry by itself once the last fd of its file description is closed, silently: an
 * fd closed before it is removed (a caller's bug) is never reported again. Remove before closing.
 */
export class ReadinessSet {
  #epfd = -1;
  #poll: PollHandle | undefined;
  /** Bumped when the epoll fd is made or closed: a callback may close the set and make a new one, with the same number. */
  #generation = 0;
  readonly #owners: Array<ReadinessOwner | undefined> = [];
  readonly #fds: number[] = [];
  readonly #free: number[] = [];
  /**
   * Tokens removed while a batch is dispatched: free only after it, so that an entry later in the batch,
   * of an fd removed meanwhile, cannot reach an owner that got its token in between.
   */
  readonly #removedInBatch: number[] = [];
  #dispatching = false;
  #size = 0;
  readonly #out = new Int32Array(BATCH);

  /** How many fds are watched. */
  get size(): number {
    return this.#size;
  }

  /** The epoll fd, -1 while the set is empty. */
  get fd(): number {
    return this.#epfd;
  }

  /**
   * Watches `fd` for `owner` until remove(token). Throws SyscallError: EEXIST when the set has the fd
   * already (one watch per fd), EBADF, EPERM for a regular file, EMFILE for the set's own fd.
   */
  add(fd: number, owner: ReadinessOwner): number {
    if (this.#epfd < 0) this.#open();
    const token = this.#free.pop() ?? this.#owners.length;
    try {
      epollAdd(this.#epfd, fd, token);
    } catch (err) {
      this.#free.push(token);
      if (this.#size === 0) this.#close();
      throw err;
    }
    this.#owners[token] = owner;
    this.#fds[token] = fd;
    this.#size += 1;
    return token;
  }

  /** Stops watching the fd of `token`: no report for it after this returns. Does nothing for a free token. */
  remove(token: number): void {
    if (this.#owners[token] === undefined) return;
    this.#owners[token] = undefined;
    this.#size -= 1;
    (this.#dispatching ? this.#removedInBatch : this.#free).push(token);
    try {
      // False: the fd was closed first and the kernel dropped the entry already.
      epollDel(this.#epfd, this.#fds[token]!);
    } finally {
      if (this.#size === 0) this.#close();
    }
  }

  #open(): void {
    const epfd = epollCreate();
    try {
      this.#poll = pollReadable(epfd, (err) => (err ? this.#failed(err) : this.#dispatch()));
    } catch (err) {
      closeFd(epfd);
      throw err;
    }
    this.#epfd = epfd;
    this.#generation += 1;
  }

  #close(): void {
    this.#poll?.stop();
    this.#poll = undefined;
    const epfd = this.#epfd;
    this.#epfd = -1;
    this.#generation += 1;
    // Nothing is registered: the table starts over, so that a burst of stopped apps leaves no arrays behind.
    this.#owners.length = this.#fds.length = this.#free.length = this.#removedInBatch.length = 0;
    try {
      closeFd(epfd);
    } catch (err) {
      // EBADF: closed under the set already (the bug its failed poll reported); the last removal must not throw for it.
      if ((err as SyscallError).errno !== 'EBADF') throw err;
    }
  }

  /** Reports what is ready; bounded by the set's size, so that owners that stay readable cannot hold the turn. */
  #dispatch(): void {
    const generation = this.#generation;
    const out = this.#out;
    let budget = this.#size;
    this.#dispatching = true;
    try {
      for (;;) {
        let n: number;
        try {
          n = epollWait(this.#epfd, out);
        } catch (err) {
          return this.#failAll(err as SyscallError, generation);
        }
        for (let i = 0; i < n; i++) {
          const v = out[i]!;
          const token = v < 0 ? -1 - v : v;
          const owner = this.#owners[token];
          if (owner === undefined) continue;
          const fd = this.#fds[token]!;
          owner.ready(fd, v < 0 ? new SyscallError('epoll_wait', 'EPIPE', EPIPE, `fd ${fd} hung up or failed (EPOLLHUP or EPOLLERR)`) : undefined);
          if (this.#generation !== generation) return;
        }
        this.#releaseRemoved();
        budget -= n;
        if (n < out.length || budget <= 0) return;
      }
    } finally {
      this.#dispatching = false;
      this.#releaseRemoved();
    }
  }

  #releaseRemoved(): void {
    for (const token of this.#removedInBatch) this.#free.push(token);
    this.#removedInBatch.length = 0;
  }

  /** The set's own poll failed (its fd was closed under it, a bug): every owner hears it once, and removes its fds. */
  #failed(err: SyscallError): void {
    this.#dispatching = true;
    try {
      this.#failAll(err, this.#generation);
    } finally {
      this.#dispatching = false;
      this.#releaseRemoved();
    }
  }

  /** With #dispatching set: a token removed meanwhile is not reused, so the snapshot's tokens stay the owners'. */
  #failAll(err: SyscallError, generation: number): void {
    const owners = this.#owners.slice();
    for (let token = 0; token < owners.length && this.#generation === generation; token++) {
      const owner = owners[token];
      if (owner !== undefined && this.#owners[token] === owner) owner.ready(this.#fds[token]!, err);
    }
  }
}

let shared: ReadinessSet | undefined;

/**
 * The set of this event loop. Module state is per thread (a worker_thread loads its own copy of this
 * module, with its own loop), and each worker process has its own, so one per loop either way.
 */
export function readinessSet(): ReadinessSet {
  return (shared ??= new ReadinessSet());
}
