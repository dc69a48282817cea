/**
 * Typed facade over the native addon: argument shaping (envp, LISTEN_*), errno names and typed
 * errors. The addon stays policy-free; every decision about what a failure means is made here.
 */
import { constants } from 'node:os';
import { SpawnError } from '../errors.js';
import { addon, check, errnoName, fail, signalNames } from './addon.js';
import type { RawSpawnOptions } from './binding.js';

export interface SpawnOptions {
  cwd?: string;
  uid?: number;
  /** Also drops every supplementary group (setgroups(0)). */
  gid?: number;
  setsid?: boolean;
  /** fds to install as the child's 0,1,2 (default: the parent's own, inherited) */
  stdio?: readonly [number, number, number];
  /** Names for LISTEN_FDNAMES, one per fd in `fds`. When given (and fds is non-empty), the child env gets LISTEN_FDS=<n>, LISTEN_FDNAMES=<names joined by ':'> and LISTEN_PID=<the child's own pid>. */
  listenFdNames?: readonly string[];
  /** signal name sent to the child if the gateway's thread dies (PR_SET_PDEATHSIG); null or absent: none */
  deathSignal?: NodeJS.Signals | null;
  /** Writable `cgroup.procs` fds: the child moves itself into each cgroup before it execs. Stay the caller's. */
  cgroupProcs?: readonly number[];
  /**
   * A cgroup2 directory fd (O_DIRECTORY): the child is cloned straight into it (CLONE_INTO_CGROUP), which
   * spares the migration a cgroup.procs write costs. Where the kernel refuses that (before 5.7, or no clone3)
   * the spawn is retried with `cgroupProcs` instead, if given. Stays the caller's.
   */
  cgroupFd?: number;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ChildHandle {
  readonly pid: number;
  /** Resolves once, when the child has exited and been reaped. Never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** Sends a signal through the pidfd; returns false if the child already exited (ESRCH or already reaped). Throws SyscallError otherwise. */
  kill(signal: NodeJS.Signals): boolean;
}

const LISTEN_VARS = new Set(['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']);

/** How a kernel without CLONE_INTO_CGROUP (< 5.7) or without clone3 (or a seccomp filter) answers. */
const INTO_CGROUP_REFUSED = new Set([constants.errno.EINVAL, constants.errno.E2BIG, constants.errno.ENOSYS, constants.errno.EPERM]);

function signalNumber(signal: NodeJS.Signals): number {
  const n = (constants.signals as Readonly<Record<string, number>>)[signal];
  if (n === undefined) throw new TypeError(`unknown signal ${signal}`);
  return n;
}

function signalName(n: number): NodeJS.Signals {
  // Real-time signals have no NodeJS.Signals name; the cast keeps the number visible instead of lying with null.
  return (signalNames.get(n) ?? `SIGRT_${n}`) as NodeJS.Signals;
}

class Child implements ChildHandle {
  readonly exited: Promise<ExitStatus>;
  /** -1 once closed: from then on the number may belong to someone else and must not be signalled. */
  #pidfd: number;

  /** `owned`: our child, which a failed watch must not leave behind; else a process we only watch. */
  constructor(
    readonly pid: number,
    pidfd: number,
    owned = true,
  ) {
    this.#pidfd = pidfd;
    const native = addon();
    let watchError = 0;
    this.exited = new Promise<ExitStatus>((resolve) => {
      watchError = native.watchExit(pidfd, (code, signal) => {
        // Reaped already, so closing cannot race a signal to a recycled pid. A waitid failure (someone
        // else reaped the child) leaves both fields null: the status is lost, but the child is gone.
        native.close(pidfd);
        this.#pidfd = -1;
        resolve({ code, signal: signal === null ? null : signalName(signal) });
      });
    });
    if (watchError < 0 && !owned) {
      native.close(pidfd);
      check('watchExit', watchError, `pid ${pid}`);
    } else if (watchError < 0) {
      // Without a watcher nobody would ever reap it; kill it rather than leave an invisible child, and
      // reap it here, or it stays a zombie for the gateway's life.
      native.pidfdSendSignal(pidfd, signalNumber('SIGKILL'));
      native.reap(pidfd);
      native.close(pidfd);
      check('watchExit', watchError, `pid ${pid}`);
    }
  }

  kill(signal: NodeJS.Signals): boolean {
    if (this.#pidfd < 0) return false;
    const r = addon().pidfdSendSignal(this.#pidfd, signalNumber(signal));
    if (r === -constants.errno.ESRCH) return false;
    check('pidfd_send_signal', r, `pid ${this.pid}`);
    return true;
  }
}

/** A child stopped before execve (spawnHeld): set up, in its session, as its uid, but not yet running `file`. */
export interface HeldChildHandle extends ChildHandle {
  /**
   * Lets it exec, and returns once it has: throws SpawnError when execve fails (the child then exits 127),
   * SyscallError (EPIPE) when it is gone already. Once; the hold is used up whatever the outcome.
   */
  release(): void;
  /** Gives it up: it exits (127) without ever running `file`. Idempotent; does nothing after release. */
  cancel(): void;
}

class HeldChild extends Child implements HeldChildHandle {
  #fds: [release: number, exec: number] | undefined;

  constructor(
    pid: number,
    pidfd: number,
    releaseFd: number,
    execFd: number,
    private readonly file: string,
  ) {
    super(pid, pidfd);
    this.#fds = [releaseFd, execFd];
  }

  release(): void {
    if (!this.#fds) throw new Error(`pid ${this.pid} was released or cancelled already`);
    const r = addon().spawnRelease(...this.#fds);
    this.#fds = undefined;
    if (r !== 0) {
      if (r.step === 'execve') throw new SpawnError(this.file, errnoName(-r.error), -r.error);
      fail(r.step, r.error, `while releasing ${this.file}`);
    }
  }

  cancel(): void {
    // Closing the write end is the EOF the child waits on.
    for (const fd of this.#fds ?? []) closeFd(fd);
    this.#fds = undefined;
  }
}

/**
 * Starts `file` with the FULL `argv`, argv[0] included. `file` is used as given: resolve PATH
 * yourself, and note that a relative `file` is looked up after the chdir to `opts.cwd`.
 * `fds[i]` becomes the child's fd 3+i; every other fd except 0-2 is closed at exec. `env` is the
 * whole environment; with `listenFdNames` any LISTEN_* in it is replaced by the systemd-style trio.
 * Throws SpawnError when execve fails (ENOENT, EACCES, ...), SyscallError for any other step.
 */
export function spawn(
  file: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  fds: readonly number[],
  opts: SpawnOptions = {},
): ChildHandle {
  const r = rawSpawn(file, argv, env, fds, opts, false);
  return new Child(r.pid, r.pidfd);
}

/**
 * As spawn, but the child stops after its whole set-up, just before execve, until `release()`: a third
 * party (systemd) can place it, and nothing of the app runs, or forks, before that. A held child is
 * cloned by copy (page tables and all), not in the parent's memory, because the parent must go on to
 * release it. Set-up failures throw here; execve's are thrown by `release()`.
 */
export function spawnHeld(
  file: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  fds: readonly number[],
  opts: SpawnOptions = {},
): HeldChildHandle {
  const r = rawSpawn(file, argv, env, fds, opts, true);
  if (r.releaseFd === undefined || r.execFd === undefined) throw new Error('native spawn returned no hold for a held child');
  return new HeldChild(r.pid, r.pidfd, r.releaseFd, r.execFd, file);
}

function rawSpawn(file: string, argv: readonly string[], env: Readonly<Record<string, string>>, fds: readonly number[], opts: SpawnOptions, hold: boolean) {
  if (argv.length === 0) throw new TypeError('argv must hold at least argv[0]');
  const names = opts.listenFdNames;
  const listen = names !== undefined && fds.length > 0;
  if (names !== undefined && names.length !== fds.length) {
    throw new TypeError(`listenFdNames has ${names.length} names for ${fds.length} fds`);
  }
  if (names?.some((n) => n.includes(':'))) throw new TypeError('listenFdNames must not contain ":"');
  const envp: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (key === '' || key.includes('=')) throw new TypeError(`invalid env name ${JSON.stringify(key)}`);
    if (!(listen && LISTEN_VARS.has(key))) envp.push(`${key}=${value}`);
  }
  const raw: RawSpawnOptions = { cwd: opts.cwd, uid: opts.uid, gid: opts.gid, setsid: opts.setsid, stdio: opts.stdio, cgroupProcs: opts.cgroupProcs, hold };
  if (listen) {
    envp.push(`LISTEN_FDS=${fds.length}`, `LISTEN_FDNAMES=${names.join(':')}`);
    raw.pidEnv = 'LISTEN_PID';
  }
  if (opts.deathSignal) raw.deathSignal = signalNumber(opts.deathSignal);
  let r = addon().spawn(file, argv, envp, fds, opts.cgroupFd === undefined ? raw : { ...raw, cgroupProcs: undefined, cgroupFd: opts.cgroupFd });
  const refused = 'error' in r && r.step === 'clone_into_cgroup' && INTO_CGROUP_REFUSED.has(-r.error);
  if (refused && opts.cgroupProcs !== undefined) r = addon().spawn(file, argv, envp, fds, raw);
  if ('error' in r) {
    if (r.step === 'execve') throw new SpawnError(file, errnoName(-r.error), -r.error);
    fail(r.step, r.error, `while spawning ${file}`);
  }
  return r;
}

/**
 * Watches a process that is not our child (one a previous gateway started, now reparented): its pidfd
 * tells the exit, but its status goes to whoever reaps it, so `exited` resolves with both fields null.
 * `isTheOne` is asked once the pidfd pins the pid: a pid read from a list may have been reused by then,
 * but not after. Throws SyscallError (ESRCH: gone, or another process by now).
 */
export function watchProcess(pid: number, isTheOne: () => boolean): ChildHandle {
  const native = addon();
  const pidfd = check('pidfd_open', native.pidfdOpen(pid), `pid ${pid}`);
  if (!isTheOne()) {
    native.close(pidfd);
    return fail('pidfd_open', -constants.errno.ESRCH, `pid ${pid} is another process by now`);
  }
  return new Child(pid, pidfd, false);
}

/**
 * Signals those of `pids` that are still listed by `listed()` once each is pinned by a pidfd: a pid read
 * from a list (a cgroup's `cgroup.procs`) may exit and be reused by an unrelated process before the kill,
 * but not after its pidfd is open, and a reused pid is not in the list. Returns how many were signalled.
 */
export function signalListed(pids: readonly number[], listed: () => ReadonlySet<number>, signal: NodeJS.Signals): number {
  const native = addon();
  const pinned: Array<[pid: number, pidfd: number]> = [];
  for (const pid of pids) {
    const pidfd = native.pidfdOpen(pid);
    if (pidfd >= 0) pinned.push([pid, pidfd]);
  }
  let sent = 0;
  try {
    const still = listed();
    for (const [pid, pidfd] of pinned) if (still.has(pid) && native.pidfdSendSignal(pidfd, signalNumber(signal)) === 0) sent += 1;
  } finally {
    for (const [, pidfd] of pinned) native.close(pidfd);
  }
  return sent;
}

/** Who may connect to a Unix socket file: set on it after bind, before listen (so before any client can connect). */
export interface SocketFileAccess {
  /** Permission bits (connect needs write); absent: what bind and the umask made. */
  readonly mode?: number;
  /** Group of the file; absent: the gateway's. Needs root, or the gateway in that group (else EPERM). */
  readonly gid?: number;
}

/** A listening Unix stream socket at `path` that wakegate holds and never accepts on. Throws SyscallError. */
export function unixListen(path: string, backlog: number, access: SocketFileAccess = {}): number {
  return check('unixListen', addon().unixListen(path, backlog, access.mode ?? -1, access.gid ?? -1), path);
}

/** Throws SyscallError (EBADF etc.). */
export function closeFd(fd: number): void {
  check('close', addon().close(fd), `fd ${fd}`);
}

/** A pipe whose ends are both close-on-exec in the parent (spawn's stdio installs them in a child). */
export function pipe(): [read: number, write: number] {
  const r = addon().pipe();
  return typeof r === 'number' ? fail('pipe2', r) : r;
}

/** A non-blocking, close-on-exec eventfd: reading it takes (and resets) the count, or fails EAGAIN at 0. */
export function eventfd(): number {
  return check('eventfd', addon().eventfd());
}

/** <sys/file.h>; the same on every Linux architecture. */
const LOCK_EX = 2;
const LOCK_NB = 4;

/**
 * Takes an exclusive flock on `fd` without waiting. The lock belongs to the open file description, so it
 * lasts until that fd is closed (or the process dies). Throws SyscallError, with errno EAGAIN
 * (= EWOULDBLOCK) when another open file description holds it.
 */
export function lockExclusive(fd: number, detail?: string): void {
  check('flock', addon().flock(fd, LOCK_EX | LOCK_NB), detail);
}

export * from './epoll.js';
export * from './heap.js';
export * from './sockets.js';
export * from './systemd.js';
