/**
 * Which connections belong to which held listener, and their totals.
 *
 * Only the server side is counted: a connection belongs to a listener when it was accepted from it
 * (TCP: same family, local port and address, or the listener is bound to the wildcard; Unix: same
 * bound file, or same name without one). The client end of a connection never has those, so a
 * connection made from the same host is counted once. Sockets nobody holds (inode 0: queued for
 * accept, or closed and left to the kernel to flush) are not connections; queued ones are counted in
 * `acceptQueue`, and flushing ones outlive their instance anyway.
 */
import { endpointKey, isWildcard } from './inet-address.js';
import { TCP_DATA_STATES, TCP_LISTEN, type TcpSocketRow } from './inet-diag.js';
import { UNIX_ESTABLISHED, UNIX_LISTEN, type UnixSocketRow } from './unix-diag.js';

export interface HeldListener {
  /** The caller's name for it; the result is keyed by it. */
  readonly key: string;
  readonly kind: 'tcp' | 'unix';
  /** st_ino of the listening fd (see socketInode), which is the inode sock_diag and /proc/net report. */
  readonly inode: number;
}

export interface ListenerCounters {
  /** Accepted connections that a process still holds, in a state that can carry data. */
  readonly connections: number;
  /** TCP: Σ bytes acked + bytes received over those connections. null for Unix and without sock_diag. */
  readonly bytes: number | null;
  /**
   * Bytes moved on those connections since this sampler's previous sample (a connection new since
   * then counts whole). A connection that closed in between adds nothing: its close shows as a change
   * of `connections`. null where `bytes` is.
   */
  readonly bytesMoved: number | null;
  /** Σ unread + unacknowledged (TCP) or unread + unconsumed (Unix) bytes of those connections; null when unknown. */
  readonly queuedBytes: number | null;
  /** Connections waiting to be accepted now. It falls when an instance starts accepting. */
  readonly acceptQueue: number;
}

export function countTcp(
  rows: readonly TcpSocketRow[],
  held: readonly HeldListener[],
  exclude: ReadonlySet<number>,
  previous: ReadonlyMap<number, number>,
  seen: Map<number, number>,
  out: Map<string, ListenerCounters>,
): void {
  const wanted = new Map(held.map((l) => [l.inode, l.key]));
  type Tally = { address: string; key: string; connections: number; bytes: number | null; moved: number | null; queued: number; accept: number };
  const byPort = new Map<number, Tally[]>();
  const tallies: Tally[] = [];
  for (const r of rows) {
    const key = r.state === TCP_LISTEN ? wanted.get(r.inode) : undefined;
    if (key === undefined) continue;
    const counts = r.bytesAcked !== null;
    const t: Tally = { address: r.localAddress, key, connections: 0, bytes: counts ? 0 : null, moved: counts ? 0 : null, queued: 0, accept: r.rqueue };
    tallies.push(t);
    const port = portKey(r.family, r.localPort);
    const list = byPort.get(port);
    if (list) list.push(t);
    else byPort.set(port, [t]);
  }
  // Client ends held by the gateway, as "local>remote": a server end is theirs when its "remote>local" matches.
  const own = new Set<string>();
  if (exclude.size > 0) {
    for (const r of rows) {
      if (exclude.has(r.inode)) own.add(`${endpointKey(r.localAddress, r.localPort)}>${endpointKey(r.remoteAddress, r.remotePort)}`);
    }
  }
  for (const r of rows) {
    if (r.inode === 0 || !TCP_DATA_STATES.has(r.state)) continue;
    const candidates = byPort.get(portKey(r.family, r.localPort));
    if (!candidates) continue;
    const t = candidates.find((c) => c.address === r.localAddress) ?? candidates.find((c) => isWildcard(c.address));
    if (!t) continue;
    if (own.size > 0 && own.has(`${endpointKey(r.remoteAddress, r.remotePort)}>${endpointKey(r.localAddress, r.localPort)}`)) continue;
    t.connections++;
    t.queued += r.rqueue + r.wqueue;
    if (r.bytesAcked !== null && r.bytesReceived !== null && t.bytes !== null && t.moved !== null) {
      const bytes = r.bytesAcked + r.bytesReceived;
      // The inode names a live socket; the peer's port guards against a number reused since the last sample.
      const id = r.inode * 65536 + r.remotePort;
      t.bytes += bytes;
      t.moved += bytes - (previous.get(id) ?? 0);
      seen.set(id, bytes);
    }
  }
  for (const t of tallies) {
    out.set(t.key, { connections: t.connections, bytes: t.bytes, bytesMoved: t.moved, queuedBytes: t.queued, acceptQueue: t.accept });
  }
}

export function countUnix(rows: readonly UnixSocketRow[], held: readonly HeldListener[], exclude: ReadonlySet<number>, out: Map<string, ListenerCounters>): void {
  const wanted = new Map(held.map((l) => [l.inode, l.key]));
  // `listed`: the source lists queued connections as rows (/proc/net/unix) instead of giving a queue length.
  type Tally = { key: string; connections: number; queued: number | null; accept: number; listed: boolean };
  const byIdentity = new Map<string, Tally>();
  const tallies: Tally[] = [];
  for (const r of rows) {
    const key = r.state === UNIX_LISTEN ? wanted.get(r.inode) : undefined;
    const id = identity(r);
    if (key === undefined || id === null) continue;
    const listed = r.rqueue === null;
    const t: Tally = { key, connections: 0, queued: listed ? null : 0, accept: r.rqueue ?? 0, listed };
    tallies.push(t);
    byIdentity.set(id, t);
  }
  for (const r of rows) {
    if (r.state !== UNIX_ESTABLISHED) continue;
    const id = identity(r);
    const t = id === null ? undefined : byIdentity.get(id);
    if (!t) continue;
    if (r.inode === 0) {
      if (t.listed) t.accept++;
      continue;
    }
    if (r.peer !== null && exclude.has(r.peer)) continue;
    t.connections++;
    if (t.queued !== null && r.rqueue !== null && r.wqueue !== null) t.queued += r.rqueue + r.wqueue;
  }
  for (const t of tallies) {
    out.set(t.key, { connections: t.connections, bytes: null, bytesMoved: null, queuedBytes: t.queued, acceptQueue: t.accept });
  }
}

function portKey(family: 4 | 6, port: number): number {
  return family * 65536 + port;
}

/** What ties an accepted Unix socket to its listener: the shared bound file, else the name (abstract sockets). */
function identity(r: UnixSocketRow): string | null {
  if (r.file !== null) return `${r.type}|file|${r.file}`;
  return r.name === null ? null : `${r.type}|name|${r.name}`;
}
