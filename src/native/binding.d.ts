/**
 * The raw surface of native/build/Release/wakegate.node. Thin syscall wrappers without policy:
 * each returns a non-negative result or `-errno` and throws only a TypeError for malformed
 * arguments. Use the facade in ./index.ts, which turns negatives into typed errors.
 */

export interface RawSpawnOptions {
  cwd?: string;
  uid?: number;
  gid?: number;
  setsid?: boolean;
  /** fds dup2'ed onto 0, 1, 2 in the child. */
  stdio?: readonly [number, number, number];
  /** Name of an env variable (e.g. `LISTEN_PID`) appended to envp as `NAME=<the child's pid>`. */
  pidEnv?: string;
  /** Signal number for PR_SET_PDEATHSIG. */
  deathSignal?: number;
  /** Open, writable `cgroup.procs` fds; the child joins each before anything else (step `cgroup.procs`). */
  cgroupProcs?: readonly number[];
  /** An O_DIRECTORY fd of a cgroup2 cgroup: clone3 CLONE_INTO_CGROUP, no fork fallback (step `clone_into_cgroup`). */
  cgroupFd?: number;
  /** Stop the child after its set-up, before execve (a copying clone): the result carries releaseFd and execFd for spawnRelease. */
  hold?: boolean;
}

/** `step` names the syscall that failed: `execve`, `chdir`, `setuid`, ... in the child; `pipe2`, `clone3`, `clone_into_cgroup`, `fork`, `pidfd_open`, `read`, `write` in the parent. */
export type RawSpawnFailure = { readonly error: number; readonly step: string };

/** releaseFd (the hold pipe's write end) and execFd (the error pipe's read end) only with opts.hold; both O_CLOEXEC. */
export type RawSpawnResult =
  | { readonly pid: number; readonly pidfd: number; readonly releaseFd?: number; readonly execFd?: number }
  | RawSpawnFailure;

/** `code` for a normal exit, `signal` (a number) for a kill; both null and `error` < 0 when waitid failed. */
export type RawExitCallback = (code: number | null, signal: number | null, error: number) => void;

/** Opaque token of one pollReadable watch (a napi external). */
export type RawPollHandle = { readonly __brand: 'RawPollHandle' };

/** `status` is 0 when the fd is readable, -errno when the poll failed (the watch has then stopped). */
export type RawPollCallback = (status: number) => void;

export type RawSockName = { readonly family: 'inet' | 'inet6' | 'unix'; readonly address: string; readonly port: number };

/** getsockopt SO_DOMAIN (AF_*), SO_TYPE (SOCK_*) and SO_ACCEPTCONN of an fd. */
export type RawSocketInfo = { readonly domain: number; readonly type: number; readonly listening: boolean };

export interface Binding {
  /** `file` is used as given (no PATH search); `argv` includes argv[0]. fds[i] lands at 3+i. */
  spawn(file: string, argv: readonly string[], envp: readonly string[], fds: readonly number[], opts: RawSpawnOptions): RawSpawnResult;
  /** Sends a held child its byte and waits until it has exec'd (0) or failed (it then exits 127 on its own). Closes both fds. */
  spawnRelease(releaseFd: number, execFd: number): 0 | RawSpawnFailure;
  /** Calls `cb` once, after reaping the child. Returns 0 or -errno. Does not close the pidfd. */
  watchExit(pidfd: number, cb: RawExitCallback): number;
  pidfdSendSignal(pidfd: number, signal: number): number;
  /** A pidfd (O_CLOEXEC) for `pid`, or -errno (-ESRCH once it is gone). */
  pidfdOpen(pid: number): number;
  /** Blocks until the child behind pidfd exits and reaps it; 0 or -errno (ECHILD if already reaped). */
  reap(pidfd: number): number;
  /** A listening AF_UNIX stream socket (blocking, O_CLOEXEC); -ENAMETOOLONG past sun_path. */
  /** mode and gid: -1 leaves them as bind made them. */
  unixListen(path: string, backlog: number, mode: number, gid: number): number;
  close(fd: number): number;
  /** [read, write], both O_CLOEXEC, or -errno. */
  pipe(): [number, number] | number;
  /** flock(2) with `operation` as in <sys/file.h> (LOCK_EX 2, LOCK_NB 4, LOCK_UN 8); 0 or -errno. */
  flock(fd: number, operation: number): number;
  /** A ref'ed uv_poll_t on `fd`, UV_READABLE only, level-triggered; the fd's O_NONBLOCK is left as it was. Handle or -errno. */
  pollReadable(fd: number, cb: RawPollCallback): RawPollHandle | number;
  /** Stops and closes the watch; no callback runs after it. Idempotent; returns 0. */
  pollStop(handle: RawPollHandle): number;
  /** epoll_create1(EPOLL_CLOEXEC): fd or -errno. */
  epollCreate(): number;
  /** Adds `fd` as EPOLLIN, level-triggered, tagged with `token` (int32 >= 0, else -EINVAL); O_NONBLOCK is left alone. 0 or -errno (EEXIST: in the set already). */
  epollAdd(epfd: number, fd: number, token: number): number;
  /** Removes `fd`; 0 or -errno (ENOENT: not in the set, EBADF: closed). */
  epollDel(epfd: number, fd: number): number;
  /** Never blocks. Writes the ready entries' tokens to out[0..n) and returns n (at most min(out.length, 256)), or -errno. An entry with EPOLLERR or EPOLLHUP is written as -1 - token. */
  epollWait(epfd: number, out: Int32Array): number;
  /** A listening TCP socket on a numeric IPv4/IPv6 `host` (blocking, O_CLOEXEC, SO_REUSEADDR, IPV6_V6ONLY); fd or -errno. */
  inetListen(host: string, port: number, backlog: number): number;
  getsockname(fd: number): RawSockName | number;
  /** Sends `request` (a whole nlmsghdr + payload) on a fresh AF_NETLINK socket of `protocol`, on a libuv thread. `cb` gets every response message up to NLMSG_DONE (excluded), concatenated, or -errno: the kernel's error for NLMSG_ERROR, -ENOBUFS past 64 MiB, -EAGAIN if no answer within 1 s. Returns 0, or -errno when nothing was queued. */
  netlinkDump(protocol: number, request: Buffer, cb: (result: Buffer | number) => void): number;
  /** One blocking sendmsg on a fresh AF_UNIX SOCK_DGRAM socket to `path` ('@' = abstract), with SCM_RIGHTS for `fds` if any; 0 or -errno (-E2BIG past 253 fds). */
  notify(path: string, message: string, fds: readonly number[]): number;
  socketInfo(fd: number): RawSocketInfo | number;
  /** Sets FD_CLOEXEC; 0 or -errno. */
  setCloexec(fd: number): number;
  /** An eventfd counter, EFD_CLOEXEC | EFD_NONBLOCK; fd or -errno. */
  eventfd(): number;
  /** glibc's malloc_trim(0): 1 when memory went back to the kernel, else 0 (always 0 without glibc). */
  mallocTrim(): number;
  /** A blocking AF_UNIX stream socket (O_CLOEXEC) connected to `path` without waiting (-EAGAIN when its backlog is full); fd or -errno. */
  unixConnect(path: string): number;
}
