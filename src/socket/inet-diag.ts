/**
 * inet_diag for TCP (<linux/inet_diag.h>, <linux/tcp.h>): the dump request and its parser. One dump
 * per address family returns every TCP socket of the gateway's network namespace in the states below.
 */
import { formatIPv4, formatIPv6 } from './inet-address.js';
import { diagDumpRequest, forEachAttribute, forEachMessage, littleEndian, u32, u64 } from './netlink-message.js';

/** TCP states, <netinet/tcp.h>. */
export const TCP_ESTABLISHED = 1;
export const TCP_LISTEN = 10;

/**
 * States in which a connection can still carry the application's bytes: ESTABLISHED, and the closing
 * states where one direction is still open or data is still in flight (FIN_WAIT1/2, CLOSE_WAIT,
 * LAST_ACK, CLOSING). SYN_RECV (not yet in the accept queue) and TIME_WAIT (nothing left to move) are
 * left out; so is SYN_SENT, which only a client has.
 */
export const TCP_DATA_STATES: ReadonlySet<number> = new Set([TCP_ESTABLISHED, 4, 5, 8, 9, 11]);
const DUMP_STATES = [...TCP_DATA_STATES, TCP_LISTEN].reduce((mask, s) => mask | (1 << s), 0);

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const INET_DIAG_INFO = 2;
const MSG_LEN = 72; // sizeof(struct inet_diag_msg)
/** offsetof(struct tcp_info, tcpi_bytes_acked / tcpi_bytes_received); the struct only ever grows (Linux >= 4.1 has both). */
const TCPI_BYTES_ACKED = 120;
const TCPI_BYTES_RECEIVED = 128;

export interface TcpSocketRow {
  readonly family: 4 | 6;
  /** TCP_* state number. */
  readonly state: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** 0 when no process holds the socket: still in an accept queue, or closed and being flushed by the kernel. */
  readonly inode: number;
  /** LISTEN: connections waiting in the accept queue now. Otherwise bytes not yet read by the application. */
  readonly rqueue: number;
  /** LISTEN: the backlog limit. Otherwise bytes not yet acknowledged by the peer. */
  readonly wqueue: number;
  /** Bytes sent and acknowledged by the peer; null when the kernel gives no tcp_info (the /proc fallback, kernels < 4.1). */
  readonly bytesAcked: number | null;
  readonly bytesReceived: number | null;
}

export function inetDiagRequest(family: 4 | 6): Buffer {
  const req = Buffer.alloc(56); // sizeof(struct inet_diag_req_v2); the socket id stays zero: a dump matches all
  req[0] = family === 4 ? AF_INET : AF_INET6;
  req[1] = IPPROTO_TCP;
  req[2] = 1 << (INET_DIAG_INFO - 1);
  if (littleEndian) req.writeUInt32LE(DUMP_STATES >>> 0, 4);
  else req.writeUInt32BE(DUMP_STATES >>> 0, 4);
  return diagDumpRequest(req);
}

/** Decides from the raw fields whether a socket is worth a row: formatting addresses is most of the cost. */
export type TcpRowFilter = (family: 4 | 6, state: number, localPort: number, inode: number) => boolean;

export function parseInetDiag(buf: Buffer, keep?: TcpRowFilter): TcpSocketRow[] {
  const rows: TcpSocketRow[] = [];
  forEachMessage(buf, (start, end) => {
    if (end - start < MSG_LEN) return;
    const v4 = buf[start] === AF_INET;
    if (keep && !keep(v4 ? 4 : 6, buf[start + 1]!, buf.readUInt16BE(start + 4), u32(buf, start + 68))) return;
    const format = v4 ? formatIPv4 : formatIPv6;
    let bytesAcked: number | null = null;
    let bytesReceived: number | null = null;
    forEachAttribute(buf, start + MSG_LEN, end, (type, at, attrEnd) => {
      // A shorter tcp_info (older kernel) simply lacks the counters.
      if (type !== INET_DIAG_INFO || attrEnd - at < TCPI_BYTES_RECEIVED + 8) return;
      bytesAcked = u64(buf, at + TCPI_BYTES_ACKED);
      bytesReceived = u64(buf, at + TCPI_BYTES_RECEIVED);
    });
    rows.push({
      family: v4 ? 4 : 6,
      state: buf[start + 1]!,
      localPort: buf.readUInt16BE(start + 4),
      remotePort: buf.readUInt16BE(start + 6),
      localAddress: format(buf, start + 8),
      remoteAddress: format(buf, start + 24),
      rqueue: u32(buf, start + 56),
      wqueue: u32(buf, start + 60),
      inode: u32(buf, start + 68),
      bytesAcked,
      bytesReceived,
    });
  });
  return rows;
}
