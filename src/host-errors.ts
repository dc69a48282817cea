/**
 * Errors of what the gateway sets up on the host, before and besides serving: the config, syscalls, the
 * runtime directory and the sockets it holds. Re-exported by errors.ts, the one module callers import.
 */
import { WakegateError } from './wakegate-error.js';

export interface ConfigIssue {
  /** Dotted path into the config, e.g. `apps.hello.memory`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
}

/** The config file could not be read, parsed or validated. `issues` lists every problem, not just the first. */
export class ConfigError extends WakegateError {
  readonly code = 'WG_ERR_CONFIG';
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
    options?: ErrorOptions,
  ) {
    super(`invalid config ${file}:\n${issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n')}`, options);
  }
}

/** A syscall made by the native addon failed. */
export class SyscallError extends WakegateError {
  readonly code = 'WG_ERR_SYSCALL';
  constructor(
    readonly syscall: string,
    /** Symbolic errno name, e.g. `ENOENT`. */
    readonly errno: string,
    readonly errnoNumber: number,
    detail?: string,
  ) {
    super(`${syscall} failed: ${errno}${detail ? ` (${detail})` : ''}`);
  }
}

/** The instance's program could not be executed (the child reported execve's errno before exiting). */
export class SpawnError extends WakegateError {
  readonly code = 'WG_ERR_SPAWN';
  readonly syscall = 'execve';
  constructor(
    readonly file: string,
    readonly errno: string,
    readonly errnoNumber: number,
  ) {
    super(`failed to execute ${file}: ${errno}`);
  }
}

/** Why a directory of the runtime path is refused. */
export type UnsafeDirProblem = 'symlink' | 'not-directory' | 'not-file' | 'owner' | 'writable';

/**
 * A directory of the gateway's runtime path (runtimeDir, or one the gateway makes below it), or its lock
 * file, exists but another user could swap or add entries in it: a symlink, not a directory (not a regular
 * file, for the lock), another uid's, or writable by group or others. Start-up is refused before anything
 * in it is used.
 */
export class RuntimeDirUnsafeError extends WakegateError {
  readonly code = 'WG_ERR_RUNTIME_DIR_UNSAFE';
  constructor(
    readonly path: string,
    readonly problem: UnsafeDirProblem,
    /** The entry's owner, as lstat reports it. */
    readonly ownerUid: number,
    /** Permission bits, e.g. 0o777. */
    readonly mode: number,
    /** The uid the gateway runs as. */
    readonly uid: number,
  ) {
    const octal = `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
    const what = {
      symlink: 'is a symbolic link',
      'not-directory': 'is not a directory',
      'not-file': 'is not a regular file',
      owner: `is owned by uid ${ownerUid}, not by the gateway's uid ${uid}`,
      writable: 'is writable by group or others',
    }[problem];
    const fix = problem === 'symlink' || problem.startsWith('not-') ? 'remove it (wakegate creates it)' : `remove it (wakegate creates it), or make it private: chown ${uid} ${path} && chmod 0700 ${path}`;
    super(`unsafe runtime directory ${path}: it ${what} (owner uid ${ownerUid}, mode ${octal}); ${fix}; or set runtimeDir elsewhere`);
  }
}

/** Another gateway holds the lock on this runtimeDir; this one refused to start and changed nothing. */
export class RuntimeDirLockedError extends WakegateError {
  readonly code = 'WG_ERR_RUNTIME_DIR_LOCKED';
  constructor(
    readonly path: string,
    /** The holder's pid as it wrote it into the lock file; undefined if it had not written it yet. */
    readonly pid: number | undefined,
  ) {
    super(`another wakegate (pid ${pid ?? 'unknown'}) is running on runtime directory ${path}; stop it, or give this one another runtimeDir`);
  }
}

/** A Unix socket path to listen on is taken by something that is not a stale socket, which wakegate never removes. */
export class SocketPathTakenError extends WakegateError {
  readonly code = 'WG_ERR_SOCKET_PATH_TAKEN';
  constructor(
    readonly path: string,
    /** What is there: `regular file`, `directory`, `symbolic link`, ..., or `socket in use`. */
    readonly found: string,
  ) {
    super(
      found === 'socket in use'
        ? `cannot listen on ${path}: another process is listening on it`
        : `cannot listen on ${path}: it is a ${found}, not a stale socket; remove it yourself or choose another path`,
    );
  }
}

/** What stops an app socket from being held, for AppSocketError. */
export type AppSocketProblem = 'in-use' | 'privileged' | 'not-available' | 'invalid' | 'unsafe-dir' | 'path-taken' | 'failed';

/**
 * One of an app's own `listen` sockets cannot be bound. The app is refused with this error; the other apps
 * keep their sockets. `address` is as written in the config (`tcp:[::1]:8443`, `unix:/srv/run/db.sock`).
 */
export class AppSocketError extends WakegateError {
  readonly code = 'WG_ERR_APP_SOCKET';
  constructor(
    readonly app: string,
    readonly address: string,
    readonly problem: AppSocketProblem,
    /** Symbolic errno of the failed call (`EADDRINUSE`, `EACCES`, ...); undefined for a refusal by wakegate itself. */
    readonly errno: string | undefined,
    /** The human reason, e.g. "address already in use". */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`app ${app} cannot listen on ${address}: ${reason}`, options);
  }
}

/** Why a socket passed in LISTEN_FDS cannot be used, for InheritedSocketError. */
export type InheritedSocketProblem = 'environment' | 'not-socket' | 'not-stream' | 'not-listening' | 'family';

/**
 * What systemd (or another service manager) passed in LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES is unusable: the
 * variables are malformed, or an fd is not a listening stream socket of an address family the gateway
 * serves. Start-up is refused before anything is bound. `fd` is -1 for a problem of the variables.
 */
export class InheritedSocketError extends WakegateError {
  readonly code = 'WG_ERR_INHERITED_SOCKET';
  constructor(
    readonly fd: number,
    /** Its LISTEN_FDNAMES entry, `unknown` when none is given. */
    readonly fdName: string,
    readonly problem: InheritedSocketProblem,
    readonly reason: string,
  ) {
    super(fd < 0 ? `cannot use the sockets passed by the service manager: ${reason}` : `cannot use the socket passed as fd ${fd} (name ${fdName}): ${reason}`);
  }
}

/**
 * A socket passed in LISTEN_FDS does not fit the config: it matches no configured address, or its name
 * (`http`, `admin`, `app.<name>`) points at a configured address it is not bound to. Start-up is refused
 * before anything is bound; fix the socket unit or the config (`systemctl stop` empties the fd store).
 */
export class InheritedSocketMismatchError extends WakegateError {
  readonly code = 'WG_ERR_INHERITED_SOCKET_MISMATCH';
  constructor(
    readonly fd: number,
    /** Its LISTEN_FDNAMES entry. */
    readonly fdName: string,
    /** What it is bound to: `tcp:127.0.0.1:8080`, `unix:/run/x.sock`. */
    readonly address: string,
    /** What the config expects for that name, if the name points at one. */
    readonly expected: string | undefined,
  ) {
    super(
      expected === undefined
        ? `the socket passed as fd ${fd} (name ${fdName}, bound to ${address}) matches no configured address`
        : `the socket passed as fd ${fd} (name ${fdName}) is bound to ${address}, but the config has ${expected} for it`,
    );
  }
}
