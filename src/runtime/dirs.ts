import { chmodSync, existsSync, lstatSync, mkdirSync, rmSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { RuntimeDirUnsafeError, SocketPathTakenError } from '../errors.js';

/**
 * Creates the missing directories of `path` (0700), its parents included, and checks none of them: they
 * are above what the gateway owns (e.g. /tmp). Returns true when `path` itself was created here.
 * Not `mkdirSync({ recursive: true })`: on Node 20 that spins forever when a parent refuses creation
 * without saying ENOENT (seen with a path under /proc), and a runtimeDir that cannot be created must
 * fail start-up at once, naming the path.
 */
export function makeParents(path: string): boolean {
  const parent = dirname(path);
  if (parent !== path && !existsSync(parent)) makeParents(parent);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
  // The umask may have trimmed the mode (it can only take bits away, never make it writable to others).
  chmodSync(path, 0o700);
  return true;
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
