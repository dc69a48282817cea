import { chmodSync, lchownSync, lstatSync, realpathSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ListenAddress } from '../config/types.js';
import { parseFileMode } from '../config/units.js';
import { DEFAULTS } from '../defaults.js';
import { AppSocketError, RuntimeDirUnsafeError, SocketPathTakenError, SyscallError, type AppSocketProblem } from '../errors.js';
import { clearStaleSocket, type BoundAddress } from '../listen.js';
import { closeFd, getSockName, inetListen, unixListen, type SockName } from '../native/index.js';
import { assertOwnDir } from '../runtime/dirs.js';

export interface ListenSocketOptions {
  /** The name in LISTEN_FDNAMES; default the app's name. */
  readonly name?: string;
  readonly backlog?: number;
  /** Mode of a Unix socket file; connecting needs write permission, so 0600 (the default) lets only the gateway's uid (and root) in. */
  readonly mode?: number;
  /** Group of a Unix socket file; absent: the gateway's. */
  readonly group?: number;
}

/** Who may connect to a held Unix socket file. */
export interface SocketAccess {
  readonly mode: number;
  readonly group: number | undefined;
}

const DEFAULT_MODE = parseFileMode(DEFAULTS.listenSocket.mode);

/** An address as the config writes it: `tcp:127.0.0.1:80`, `tcp:[::1]:8443`, `unix:/srv/run/db.sock`. */
export function addressText(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return `tcp:${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/**
 * One listening socket that the gateway holds for an app and hands to each of its instances (fd 3..),
 * without ever accepting on it. Open it with ListenSocket.open; close() releases the fd and the socket
 * file it made.
 */
export class ListenSocket {
  #fd: number;
  /** dev:ino of the socket file this object bound, so close() never removes a file someone put there since. */
  readonly #inode: string | undefined;
  /** Unix: the socket file's path as bound (its directory resolved), and who may connect to it now. */
  readonly #file: string | undefined;
  #access: SocketAccess | undefined;

  private constructor(
    readonly app: string,
    readonly address: ListenAddress,
    /** LISTEN_FDNAMES entry. */
    readonly name: string,
    fd: number,
    /** What the socket is bound to: the real port when the config said 0. */
    readonly bound: BoundAddress,
    inode: string | undefined,
    file?: { readonly path: string; readonly access: SocketAccess },
  ) {
    this.#fd = fd;
    this.#inode = inode;
    this.#file = file?.path;
    this.#access = file?.access;
  }

  /** Unix: the socket file's mode and group as last set; undefined for TCP. */
  get access(): SocketAccess | undefined {
    return this.#access;
  }

  get kind(): 'tcp' | 'unix' {
    return this.address.kind;
  }

  /** The held fd; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** As the config writes it, for logs and errors. */
  get text(): string {
    return addressText(this.address);
  }

  /** Binds and listens. Throws AppSocketError naming `app` and the address; nothing is left behind then. */
  static async open(app: string, address: ListenAddress, options: ListenSocketOptions = {}): Promise<ListenSocket> {
    const name = options.name ?? app;
    const backlog = options.backlog ?? DEFAULTS.app.backlog;
    if (address.kind === 'tcp') {
      const fd = listenOr(app, address, () => inetListen(address.host, address.port, backlog));
      let got: SockName;
      try {
        got = getSockName(fd);
      } catch (err) {
        closeFd(fd);
        throw err;
      }
      return new ListenSocket(app, address, name, fd, { kind: 'tcp', host: got.address, port: got.port }, undefined);
    }
    const path = await prepareUnixPath(app, address);
    const access: SocketAccess = { mode: options.mode ?? DEFAULT_MODE, group: options.group };
    // Mode and group are set between bind and listen (native unixListen): until listen, a connect is
    // refused, so no client gets in under the umask's mode, nor queues a connection the mode forbids.
    const fd = listenOr(app, address, () => unixListen(path, backlog, { mode: access.mode, ...(access.group !== undefined && { gid: access.group }) }), access.group);
    try {
      const stat = lstatSync(path);
      return new ListenSocket(app, address, name, fd, { kind: 'unix', path: address.path }, `${stat.dev}:${stat.ino}`, { path, access });
    } catch (err) {
      closeFd(fd);
      rmSync(path, { force: true });
      throw refused(app, address, 'failed', (err as NodeJS.ErrnoException).code, `cannot set up the socket file: ${(err as Error).message}`, err);
    }
  }

  /**
   * A socket bound to `address` by a previous gateway (or a socket unit) and passed back by the service
   * manager; the caller has matched it to the address. Nothing is bound; a Unix socket's file gets the
   * configured mode and group (the config may have changed while no gateway ran).
   */
  static adopt(app: string, address: ListenAddress, name: string, fd: number, access: Pick<ListenSocketOptions, 'mode' | 'group'> = {}): ListenSocket {
    if (address.kind === 'tcp') {
      const got = getSockName(fd);
      return new ListenSocket(app, address, name, fd, { kind: 'tcp', host: got.address, port: got.port }, undefined);
    }
    try {
      const stat = lstatSync(address.path);
      // As found: a reload may then change the file's mode and group in place, as for a socket bound here.
      const found: SocketAccess = { mode: stat.mode & 0o777, group: stat.gid };
      const socket = new ListenSocket(app, address, name, fd, { kind: 'unix', path: address.path }, `${stat.dev}:${stat.ino}`, { path: address.path, access: found });
      socket.setAccess({ mode: access.mode ?? DEFAULT_MODE, group: access.group });
      return socket;
    } catch (err) {
      if (err instanceof AppSocketError) {
        closeFd(fd);
        throw err;
      }
      return new ListenSocket(app, address, name, fd, { kind: 'unix', path: address.path }, undefined);
    }
  }

  /**
   * Reload: gives the held socket file a new mode and group in place, so the socket, its queued connections
   * and the instance holding it are kept; connections already made are not affected (connect(2) checks
   * the file, once). On the way the file is owner-only (0600 at most), so no one gets more than the old or
   * the new access grants. On failure (EPERM: a group the gateway is not in) the old access is put back
   * and AppSocketError thrown.
   */
  setAccess(access: SocketAccess): void {
    const old = this.#access;
    const file = this.#file;
    if (!old || !file || this.#fd < 0) return;
    if (old.mode === access.mode && old.group === access.group) return;
    try {
      this.#apply(file, access);
    } catch (err) {
      try {
        this.#apply(file, old);
      } catch {
        // The file stays owner-only (the first step): safe, if narrower than before.
      }
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code === 'EPERM' && access.group !== undefined ? groupReason(access.group) : `cannot change the socket file: ${(err as Error).message}`;
      throw refused(this.app, this.address, 'failed', code, reason, err);
    }
    this.#access = access;
  }

  #apply(file: string, access: SocketAccess): void {
    const stat = lstatSync(file);
    if (`${stat.dev}:${stat.ino}` !== this.#inode) throw Object.assign(new Error(`${file} is no longer the socket the gateway bound`), { code: 'ESTALE' });
    chmodSync(file, (stat.mode & 0o700) & access.mode);
    lchownSync(file, -1, access.group ?? process.getgid?.() ?? -1);
    chmodSync(file, access.mode);
  }

  /**
   * Closes the fd and removes the socket file it bound, if that file is still the one, unless `keepFile`
   * (the socket lives on in the service manager's fd store). Idempotent.
   */
  close(keepFile = false): void {
    if (this.#fd < 0) return;
    closeFd(this.#fd);
    this.#fd = -1;
    if (this.address.kind !== 'unix' || keepFile) return;
    try {
      const stat = lstatSync(this.address.path);
      if (`${stat.dev}:${stat.ino}` === this.#inode) rmSync(this.address.path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

function refused(app: string, address: ListenAddress, problem: AppSocketProblem, errno: string | undefined, reason: string, cause?: unknown): AppSocketError {
  return new AppSocketError(app, addressText(address), problem, errno, reason, cause === undefined ? undefined : { cause });
}

/** Runs the native listen and turns its errno into the reason an operator can act on. */
function listenOr(app: string, address: ListenAddress, listen: () => number, group?: number): number {
  try {
    return listen();
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
    const [problem, reason] = reasonFor(address, err.errno, group);
    throw refused(app, address, problem, err.errno, reason, err);
  }
}

function groupReason(group: number): string {
  return `cannot give the socket file to group ${group}: the gateway must run as root or as a member of that group`;
}

function reasonFor(address: ListenAddress, errno: string, group: number | undefined): [AppSocketProblem, string] {
  switch (errno) {
    case 'EPERM':
      // bind(2) of a Unix socket reports EACCES, not EPERM: this is the chown to the configured group.
      if (address.kind === 'unix' && group !== undefined) return ['failed', groupReason(group)];
      return ['failed', `listen failed: ${errno}`];
    case 'EADDRINUSE':
      return ['in-use', 'address already in use'];
    case 'EACCES':
      if (address.kind === 'tcp') return ['privileged', `port ${address.port} needs CAP_NET_BIND_SERVICE (or run as root)`];
      return ['unsafe-dir', `no permission to create ${address.path}`];
    case 'EADDRNOTAVAIL':
      return ['not-available', 'no interface of this host has that address'];
    case 'EINVAL':
      return ['invalid', address.kind === 'tcp' ? 'the host is not a numeric IPv4 or IPv6 address' : 'the path is empty'];
    case 'ENAMETOOLONG':
      return ['invalid', 'the path is longer than the 107 bytes a Unix socket address can hold'];
    default:
      return ['failed', `listen failed: ${errno}`];
  }
}

/**
 * The socket's directory must exist and be the gateway's own: owned by its uid and writable by neither
 * group nor others. Otherwise another user could unlink the socket and bind their own in its place, and
 * the app's clients would talk to them. A sticky shared directory (/tmp) is refused too, although it stops
 * renames: another user could still take the name first. Symbolic links in the path are resolved before
 * the check; the directories above it are not checked, as for runtimeDir. A stale socket at the path is
 * replaced (the rule of `unix:` listen addresses, src/listen.ts); anything else is refused.
 * Returns the path to bind: the configured one with its directory resolved.
 */
async function prepareUnixPath(app: string, address: { readonly kind: 'unix'; readonly path: string }): Promise<string> {
  const configured = dirname(address.path);
  let dir: string;
  try {
    dir = realpathSync(configured);
    assertOwnDir(dir, lstatSync(dir));
  } catch (err) {
    if (err instanceof RuntimeDirUnsafeError) {
      const why = err.problem === 'owner' ? `is owned by uid ${err.ownerUid}, not by the gateway's uid ${err.uid}` : err.problem === 'writable' ? 'is writable by group or others' : 'is not a directory';
      throw refused(app, address, 'unsafe-dir', undefined, `the directory ${configured} ${why}; the gateway binds Unix sockets only in a directory of its own`, err);
    }
    const code = (err as NodeJS.ErrnoException).code;
    throw refused(app, address, 'unsafe-dir', code, `the directory ${configured} cannot be used (${code ?? (err as Error).message})`, err);
  }
  const path = join(dir, basename(address.path));
  try {
    await clearStaleSocket(path);
  } catch (err) {
    if (err instanceof SocketPathTakenError) {
      const problem: AppSocketProblem = err.found === 'socket in use' ? 'in-use' : 'path-taken';
      throw refused(app, address, problem, undefined, err.found === 'socket in use' ? 'address already in use (another process listens on it)' : `the path is a ${err.found}, not a stale socket`, err);
    }
    throw err;
  }
  return path;
}
