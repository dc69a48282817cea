/** The facade's epoll calls: one readiness set of many fds, watched by the event loop through its own fd. */
import { constants } from 'node:os';
import { addon, check } from './addon.js';

const { EBADF, ENOENT } = constants.errno;

/** A new, empty epoll set (close-on-exec). Throws SyscallError (EMFILE, ENOMEM). */
export function epollCreate(): number {
  return check('epoll_create1', addon().epollCreate());
}

/**
 * Adds `fd` to the set, readable only and level-triggered, reported by epollWait as `token` (an int32 >= 0
 * of the caller's choosing). The fd's O_NONBLOCK is left as it is. Throws SyscallError: EEXIST when the fd
 * is in the set already, EBADF, EPERM for a regular file, ENOSPC past fs.epoll.max_user_watches.
 */
export function epollAdd(epfd: number, fd: number, token: number): void {
  check('epoll_ctl', addon().epollAdd(epfd, fd, token), `add fd ${fd}`);
}

/**
 * Removes `fd` from the set. False when it was not there any more: the kernel drops an entry by itself
 * once the last fd of its file description is closed (EBADF or ENOENT then). Throws SyscallError otherwise.
 */
export function epollDel(epfd: number, fd: number): boolean {
  const r = addon().epollDel(epfd, fd);
  if (r === -EBADF || r === -ENOENT) return false;
  check('epoll_ctl', r, `del fd ${fd}`);
  return true;
}

/**
 * Collects the ready entries without waiting: writes their tokens to `out` and returns how many (at most
 * out.length, and at most 256). A token written as -1 - token (negative) has EPOLLERR or EPOLLHUP: the
 * fd failed or was shut down. Throws SyscallError (EBADF, EINVAL: not an epoll fd).
 */
export function epollWait(epfd: number, out: Int32Array): number {
  return check('epoll_wait', addon().epollWait(epfd, out), `epfd ${epfd}`);
}
