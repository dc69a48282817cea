import { chmodSync, chownSync, existsSync, fchmodSync, fchownSync, lstatSync, mkdirSync, rmSync, type Stats } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { RuntimeDirUnsafeError, SocketPathTakenError, SyscallError } from '../errors.js';

/** Owner rwx, group search only: the group reaches a socket whose name it knows, and can list, add or remove nothing. */
export const GROUP_SEARCH_MODE = 0o710;

/**
 * Creates the missing directories of `path` (0700, or 0710 with `group` so that socketGroup can pass
 * through what the gateway made), its parents included, and checks none of them: they are above what the
 * gateway owns (e.g. /tmp). Returns true when `path` itself was created here.
 * Not `mkdirSync({ recursive: true })`: on Node 20 that spins forever when a parent refuses creation
 * without saying ENOENT (seen with a path under /proc), and a runtimeDir that cannot be created must
 * fail start-up at once, naming the path.
 */
export function makeParents(path: string, group?: number): boolean {
  const parent = dirname(path);
  if (parent !== path && !existsSync(parent)) makeParents(parent, group);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
  if (group === undefined) {
    // The umask may have trimmed the mode (it can only take bits away, never make it writable to others).
    chmodSync(path, 0o700);
  } else {
    chownSync(path, -1, group);
    chmodSync(path, GROUP_SEARCH_MODE);
  }
  return true;
}

/**
 * Gives the open directory `fd` (checked by assertOwnDir) to `group` with mode 0710. It is made 0700
 * first, so that no moment combines the new group with bits the old mode gave. Only root, or an owner
 * that is a member of the group, may do this: EPERM becomes a SyscallError naming the path and the gid.
 */
export function shareDirWithGroup(fd: number, group: number, shown: string): void {
  fchmodSync(fd, 0o700);
  try {
    fchownSync(fd, -1, group);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new SyscallError('fchown', code, constants.errno[code as keyof typeof constants.errno] ?? 0, `${shown} to socketGroup gid ${group}: the gateway must run as root or as a member of that group`);
  }
  fchmodSync(fd, GROUP_SEARCH_MODE);
}

/**
 * `mkdir -p` for a directory the gateway owns (below its runtimeDir): what is missing is created 0700,
 * and `path` itself, created or found, must be safe to trust (see assertOwnDir).
 */
export function makeDirs(path: string): void {
  makeParents(path);
  assertOwnDir(path, lstatSync(path));
}

/**
 * Throws RuntimeDirUnsafeError unless `stat` (from lstat or fstat, never stat: a link must be seen as one)
 * is a directory owned by the gateway's uid that neither group nor others may write: otherwise another
 * user could rename its entries away and put their own in their place.
 */
export function assertOwnDir(path: string, stat: Stats): void {
  const uid = process.getuid?.() ?? -1;
  const problem = stat.isSymbolicLink()
    ? 'symlink'
    : !stat.isDirectory()
      ? 'not-directory'
      : stat.uid !== uid
        ? 'owner'
        : (stat.mode & 0o022) !== 0
          ? 'writable'
          : undefined;
  if (problem) throw new RuntimeDirUnsafeError(path, problem, stat.uid, stat.mode & 0o7777, uid);
}

/** What a directory entry is, for error messages. */
function kindOf(stat: Stats): string {
  if (stat.isFile()) return 'regular file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symbolic link';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  return 'device';
}

/**
 * Makes room to bind a Unix socket at `path`: a socket left there is removed, anything else is refused
 * with SocketPathTakenError and left as it is (wakegate deletes only what it could have made). Whether a
 * socket found there is stale is the caller's knowledge. `shownAs` names the path in the error.
 */
export function removeStaleSocket(path: string, shownAs = path): void {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) throw new SocketPathTakenError(shownAs, kindOf(stat));
  rmSync(path, { force: true });
}
