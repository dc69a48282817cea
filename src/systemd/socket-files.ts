import { lstatSync } from 'node:fs';
import { netlinkDump } from '../native/index.js';
import { NETLINK_SOCK_DIAG } from '../socket/netlink-message.js';
import { parseUnixDiag, unixDiagRequest } from '../socket/unix-diag.js';

/**
 * The inode of the file each of `sockets` (socket inodes) is bound to, from sock_diag (UNIX_DIAG_VFS):
 * the only way to tell whether a path still names a passed Unix socket, since getsockname gives the name
 * it was bound by (the previous gateway's /proc/self/fd/N/... for an app socket). Empty when sock_diag is
 * unavailable: then no passed Unix socket is taken for the file at its path.
 */
export async function boundFiles(sockets: readonly number[]): Promise<ReadonlyMap<number, number>> {
  const out = new Map<number, number>();
  if (sockets.length === 0) return out;
  const wanted = new Set(sockets);
  let rows;
  try {
    rows = parseUnixDiag(await netlinkDump(NETLINK_SOCK_DIAG, unixDiagRequest()));
  } catch {
    return out;
  }
  for (const row of rows) {
    if (!wanted.has(row.inode) || row.file === null) continue;
    out.set(row.inode, Number(row.file.split(':')[1]));
  }
  return out;
}

/** Whether `path` is the socket file whose inode is `fileInode` (undefined: not known, so no). */
export function isFileOf(path: string, fileInode: number | undefined): boolean {
  if (fileInode === undefined) return false;
  try {
    const stat = lstatSync(path);
    return stat.isSocket() && stat.ino === fileInode;
  } catch {
    return false;
  }
}
