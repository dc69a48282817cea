/**
 * unix_diag (<linux/unix_diag.h>): the dump request and its parser. An accepted Unix socket shares its
 * listener's address and bound file, so the kernel reports the listener's name and VFS inode on it;
 * that is what ties an instance's connections to the listener the gateway holds.
 */
import { diagDumpRequest, forEachAttribute, forEachMessage, littleEndian, u32 } from './netlink-message.js';

/** sk_state of Unix sockets reuses the TCP numbers. */
export const UNIX_ESTABLISHED = 1;
export const UNIX_LISTEN = 10;

const AF_UNIX = 1;
const UDIAG_SHOW_NAME = 0x1;
const UDIAG_SHOW_VFS = 0x2;
const UDIAG_SHOW_PEER = 0x4;
const UDIAG_SHOW_RQLEN = 0x10;
const UNIX_DIAG_NAME = 0;
const UNIX_DIAG_VFS = 1;
const UNIX_DIAG_PEER = 2;
const UNIX_DIAG_RQLEN = 4;
const UNIX_DIAG_SHUTDOWN = 6;
const MSG_LEN = 16; // sizeof(struct unix_diag_msg)

export interface UnixSocketRow {
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5. */
  readonly type: number;
  readonly state: number;
  /** 0 while a connection waits in its listener's queue (no process holds it yet). */
  readonly inode: number;
  /** The bound path as given to bind(2) (trailing NUL dropped), "@..." for an abstract name, null if unbound. */
  readonly name: string | null;
  /** "dev:ino" of the socket file, shared by a listener and every socket accepted from it; null without a file. */
  readonly file: string | null;
  /** Inode of the other end; null when unknown (the /proc fallback) or unconnected. */
  readonly peer: number | null;
  /** LISTEN: connections waiting to be accepted. Otherwise bytes queued for reading. null in the /proc fallback. */
  readonly rqueue: number | null;
  /** LISTEN: the backlog limit. Otherwise bytes written and not yet read by the peer. */
  readonly wqueue: number | null;
  /** SHUT_RD 1 | SHUT_WR 2 as the kernel has it; 3 once the peer is gone. */
  readonly shutdown: number;
}

export function unixDiagRequest(): Buffer {
  const req = Buffer.alloc(24); // sizeof(struct unix_diag_req)
  req[0] = AF_UNIX;
  const w = (v: number, at: number) => (littleEndian ? req.writeUInt32LE(v >>> 0, at) : req.writeUInt32BE(v >>> 0, at));
  w((1 << UNIX_ESTABLISHED) | (1 << UNIX_LISTEN), 4);
  w(UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN, 12);
  return diagDumpRequest(req);
}

export function parseUnixDiag(buf: Buffer): UnixSocketRow[] {
  const rows: UnixSocketRow[] = [];
  forEachMessage(buf, (start, end) => {
    if (end - start < MSG_LEN) return;
    let name: string | null = null;
    let file: string | null = null;
    let peer: number | null = null;
    let rqueue: number | null = null;
    let wqueue: number | null = null;
    let shutdown = 0;
    forEachAttribute(buf, start + MSG_LEN, end, (type, at, attrEnd) => {
      if (type === UNIX_DIAG_NAME) name = unixName(buf.subarray(at, attrEnd));
      else if (type === UNIX_DIAG_VFS && attrEnd - at >= 8) file = `${u32(buf, at + 4)}:${u32(buf, at)}`;
      else if (type === UNIX_DIAG_PEER && attrEnd - at >= 4) peer = u32(buf, at);
      else if (type === UNIX_DIAG_RQLEN && attrEnd - at >= 8) [rqueue, wqueue] = [u32(buf, at), u32(buf, at + 4)];
      else if (type === UNIX_DIAG_SHUTDOWN && attrEnd - at >= 1) shutdown = buf[at]!;
    });
    rows.push({ type: buf[start + 1]!, state: buf[start + 2]!, inode: u32(buf, start + 4), name, file, peer, rqueue, wqueue, shutdown });
  });
  return rows;
}

/** sun_path bytes as ss(8) and /proc/net/unix show them: abstract names with a leading "@". */
function unixName(raw: Buffer): string | null {
  if (raw.length === 0) return null;
  if (raw[0] === 0) return `@${raw.subarray(1).toString('latin1').replaceAll('\0', '@')}`;
  const nul = raw.indexOf(0);
  // latin1, not utf8: the same bytes /proc/net/unix prints, compared byte for byte, never mangled.
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString('latin1');
}
