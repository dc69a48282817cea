/** The facade's calls for running under systemd: sd_notify's datagram and the probes of sd_listen_fds. */
import { addon, check, fail } from './addon.js';

/** <bits/socket.h> numbers on Linux (every architecture). */
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;

export interface SocketInfo {
  /** AF_UNIX, AF_INET, AF_INET6, ... */
  readonly domain: number;
  /** SOCK_STREAM, SOCK_DGRAM, ... */
  readonly type: number;
  /** listen(2) was called on it (SO_ACCEPTCONN). */
  readonly listening: boolean;
}

/**
 * Sends `message` as one datagram to the AF_UNIX socket `path` (a leading '@' names the abstract
 * namespace, as $NOTIFY_SOCKET writes it), with `fds` attached (SCM_RIGHTS) when non-empty: the receiver
 * gets its own copies. Returns 0 or -errno (ENOENT, ECONNREFUSED, EAGAIN, E2BIG past 253 fds): the caller
 * decides what a failure means.
 */
export function notify(path: string, message: string, fds: readonly number[] = []): number {
  return addon().notify(path, message, fds);
}

/** The socket's domain, type and whether it listens. Throws SyscallError (EBADF, ENOTSOCK). */
export function socketInfo(fd: number): SocketInfo {
  const r = addon().socketInfo(fd);
  return typeof r === 'number' ? fail('getsockopt', r, `fd ${fd}`) : r;
}

/** Marks `fd` close-on-exec, as sd_listen_fds does with what it is passed. Throws SyscallError (EBADF). */
export function setCloexec(fd: number): void {
  check('fcntl', addon().setCloexec(fd), `fd ${fd}`);
}
export { errnoName } from './addon.js';
