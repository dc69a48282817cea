/** The facade's socket calls: readiness watches, TCP listeners, socket names and netlink (sock_diag). */
import { SyscallError } from '../errors.js';
import { addon, check, errnoName, fail } from './addon.js';
import type { RawPollHandle } from './binding.js';

/** One readability watch from pollReadable. */
export interface PollHandle {
  /** Stops the watch for good; `cb` is not called after it returns. Safe to call more than once. */
  stop(): void;
}

/**
 * Calls `cb` in every event-loop turn in which `fd` is readable (level-triggered): for a listening
 * socket, while a connection waits in its accept queue. Never reads or accepts. The watch keeps the
 * event loop alive, like a listening server, until stopped. A failed poll (the fd was closed under it)
 * reaches `cb` as a SyscallError once, after which the watch is inert until stopped. Stop the watch
 * before closing the fd. Throws SyscallError: EEXIST when this event loop already watches the fd (one
 * watch per fd), EBADF, EPERM for a regular file.
 */
export function pollReadable(fd: number, cb: (error?: SyscallError) => void): PollHandle {
  const native = addon();
  const r = native.pollReadable(fd, (status) => cb(status < 0 ? new SyscallError('poll', errnoName(-status), -status, `fd ${fd}`) : undefined));
  if (typeof r === 'number') fail('pollReadable', r, `fd ${fd}`);
  return new NativePoll(r);
}

/** A class rather than a closure: every stopped app holds one while it is watched. */
class NativePoll implements PollHandle {
  constructor(private readonly raw: RawPollHandle) {}

  stop(): void {
    addon().pollStop(this.raw);
  }
}

/**
 * A listening TCP socket on a numeric IPv4 or IPv6 address (no brackets), never accepted on by wakegate:
 * blocking, close-on-exec, SO_REUSEADDR, and IPV6_V6ONLY for IPv6 (an address means just that family).
 * Throws SyscallError with errno EADDRINUSE, EACCES (privileged port), EADDRNOTAVAIL, EINVAL (not an address).
 */
export function inetListen(host: string, port: number, backlog: number): number {
  return check('inetListen', addon().inetListen(host, port, backlog), `${host.includes(':') ? `[${host}]` : host}:${port}`);
}

/**
 * A client of the Unix stream socket at `path`, blocking and close-on-exec (to hand to a child as its
 * stdout, say). The connect itself does not wait: a full backlog is EAGAIN. Throws SyscallError (ENOENT:
 * no such socket, ECONNREFUSED: nobody listens, EACCES, EAGAIN).
 */
export function unixConnect(path: string): number {
  return check('connect', addon().unixConnect(path), path);
}

export interface SockName {
  readonly family: 'inet' | 'inet6' | 'unix';
  /** The numeric IP, or the socket path ("" for an unnamed or abstract Unix socket). */
  readonly address: string;
  /** 0 for Unix sockets. */
  readonly port: number;
}

/** What `fd` is bound to (the real port after binding port 0). Throws SyscallError (EBADF, ENOTSOCK). */
export function getSockName(fd: number): SockName {
  const r = addon().getsockname(fd);
  return typeof r === 'number' ? fail('getsockname', r, `fd ${fd}`) : r;
}

/**
 * One netlink round trip (for sock_diag): `request` is a complete nlmsghdr + payload built by the caller;
 * the result holds every response message before NLMSG_DONE, headers included. It runs on a libuv
 * thread: a dump of every socket on a busy host takes milliseconds. Rejects with SyscallError (EPERM,
 * EPROTONOSUPPORT, ENOBUFS past 64 MiB, EAGAIN without an answer in 1 s, or the errno of an NLMSG_ERROR).
 */
export function netlinkDump(protocol: number, request: Buffer): Promise<Buffer> {
  const error = (r: number) => new SyscallError('netlink', errnoName(-r), -r, `protocol ${protocol}`);
  return new Promise((resolve, reject) => {
    const queued = addon().netlinkDump(protocol, request, (r) => (typeof r === 'number' ? reject(error(r)) : resolve(r)));
    if (queued < 0) reject(error(queued));
  });
}
