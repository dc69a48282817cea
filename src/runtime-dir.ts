import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntimeDirLockedError, RuntimeDirUnsafeError, SyscallError } from './errors.js';
import { lockExclusive } from './native/index.js';
import { assertOwnDir, makeParents, shareDirWithGroup } from './runtime/dirs.js';
import type { SocketDir } from './upstream/app-socket.js';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const LOCK_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;

/**
 * The gateway's runtimeDir, held for the gateway's life: an exclusive lock on `<runtimeDir>/lock` and open
 * fds on the directory and on `apps/`. Opened before anything in the directory is touched, so a second
 * gateway on the same directory refuses (RuntimeDirLockedError) having changed nothing.
 *
 * Every directory is checked through the fd that is then held (fstat, not a stat of the path), so what is
 * checked is what is used. The parents of runtimeDir are not checked: they are the host's (/tmp, /run,
 * $XDG_RUNTIME_DIR) and may rightly be shared. That is safe because nothing reaches the app sockets by
 * their on-disk path: binds and connects go through `/proc/self/fd/<apps fd>/` (see AppSocket), so even a
 * parent that lets someone swap the path later (a non-sticky shared directory) cannot redirect traffic.
 * A sticky parent like /tmp does not even allow that: only the owner may rename its entry.
 *
 * Node opens every fd with O_CLOEXEC and spawn closes all but the handed sockets, so no instance inherits
 * the lock: it dies with the gateway, and the next gateway on the directory starts at once.
 */
export class RuntimeDir {
  private constructor(
    readonly path: string,
    private readonly fds: { readonly dir: number; readonly lock: number; readonly apps: number },
    readonly apps: SocketDir,
  ) {}

  /**
   * `group` (socketGroup) is the gid that may connect to the app sockets: runtimeDir and apps/ are then
   * given to it with mode 0710, search only, so it can neither list nor change them; the checks are the
   * same with or without it (a group-writable directory is refused whatever its group).
   * `keep`: inodes of socket files in apps/ that are not stale: the previous gateway's app sockets, passed
   * back from the fd store and adopted. Throws RuntimeDirUnsafeError, RuntimeDirLockedError, or a system
   * error naming the path.
   */
  static open(path: string, group?: number, keep: ReadonlySet<number> = new Set()): RuntimeDir {
    makeParents(dirname(path), group);
    const dir = openOwnDir(path, path);
    let lock: number | undefined;
    let apps: number | undefined;
    try {
      lock = takeLock(path, `/proc/self/fd/${dir}/lock`);
      // Only once locked: a second gateway with another socketGroup must not regroup the first one's directory.
      if (group !== undefined) shareDirWithGroup(dir, group, path);
      const appsPath = join(path, 'apps');
      apps = openOwnDir(appsPath, `/proc/self/fd/${dir}/apps`);
      // An existing apps directory that passed keeps no other bits, and no group bits but socketGroup's
      // search: it holds only our sockets.
      if (group === undefined) fchmodSync(apps, 0o700);
      else shareDirWithGroup(apps, group, appsPath);
      const reach = `/proc/self/fd/${apps}`;
      removeSockets(reach, keep);
      const sockets: SocketDir = { path: appsPath, reach: (name) => `${reach}/${name}`, ...(group !== undefined && { group }) };
      return new RuntimeDir(path, { dir, lock, apps }, sockets);
    } catch (err) {
      for (const fd of [apps, lock, dir]) if (fd !== undefined) closeSync(fd);
      throw err;
    }
  }

  /** The held fd of `apps/`: worker processes inherit it and reach the app sockets through it, as the gateway does. */
  get appsFd(): number {
    return this.fds.apps;
  }

  /** Releases the lock; call once every socket is closed and removed. The lock file stays: unlinking it would let a third gateway lock a new file while a second still waits on the old one. */
  close(): void {
    closeSync(this.fds.apps);
    closeSync(this.fds.dir);
    closeSync(this.fds.lock);
  }
}

/**
 * Creates `reach` 0700 if missing, opens it without following a link, and checks the open directory.
 * `shown` names it in errors (`reach` may be a /proc/self/fd path).
 */
function openOwnDir(shown: string, reach: string): number {
  try {
    mkdirSync(reach, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let fd: number;
  try {
    fd = openSync(reach, DIR_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Checked after the failed open, so that the error describes what is really there.
    if (code === 'ELOOP' || code === 'ENOTDIR') assertOwnDir(shown, lstatSync(reach));
    throw err;
  }
  try {
    assertOwnDir(shown, fstatSync(fd));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

function takeLock(dir: string, reach: string): number {
  const shown = join(dir, 'lock');
  const fd = openLockFile(shown, reach);
  try {
    lockExclusive(fd, shown);
  } catch (err) {
    const held = err instanceof SyscallError && err.errno === 'EAGAIN';
    const pid = held ? holderPid(fd) : undefined;
    closeSync(fd);
    throw held ? new RuntimeDirLockedError(dir, pid) : err;
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return fd;
}

function openLockFile(shown: string, reach: string): number {
  let fd: number;
  try {
    fd = openSync(reach, LOCK_FLAGS, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EISDIR') throw unsafeEntry(shown, reach);
    throw err;
  }
  const stat = fstatSync(fd);
  if (!stat.isFile() || stat.uid !== process.getuid?.()) {
    closeSync(fd);
    throw unsafeEntry(shown, reach);
  }
  return fd;
}

function unsafeEntry(shown: string, reach: string): RuntimeDirUnsafeError {
  const stat = lstatSync(reach);
  const problem = stat.isSymbolicLink() ? 'symlink' : stat.isFile() ? 'owner' : 'not-file';
  return new RuntimeDirUnsafeError(shown, problem, stat.uid, stat.mode & 0o7777, process.getuid?.() ?? -1);
}

/** What the holder wrote; undefined while it has locked but not yet written, or if the file is garbage. */
function holderPid(fd: number): number | undefined {
  const buffer = Buffer.alloc(32);
  const text = buffer.toString('utf8', 0, readSync(fd, buffer, 0, buffer.length, 0)).trim();
  return /^[1-9]\d*$/.test(text) ? Number(text) : undefined;
}

/** Sockets left by a gateway that died: we hold the lock, so none of them is anyone's any more, but those we adopt. */
function removeSockets(reach: string, keep: ReadonlySet<number>): void {
  for (const name of readdirSync(reach)) {
    const entry = join(reach, name);
    if (!name.endsWith('.sock')) continue;
    const stat = lstatSync(entry);
    if (stat.isSocket() && !keep.has(stat.ino)) rmSync(entry, { force: true });
  }
}
