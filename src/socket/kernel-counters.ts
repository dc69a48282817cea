/**
 * Per-listener use, read from the kernel instead of the data path: for each listening socket the gateway
 * holds, how many accepted connections exist, how many bytes they moved, and how many connections wait
 * in its accept queue. One sample costs one dump per family (TCP over IPv4, over IPv6, Unix), whatever
 * the number of listeners. Policy (what counts as idle) belongs to the caller.
 *
 * Only the server side is counted: a connection belongs to a listener when it was accepted from it
 * (TCP: same family, local port and address, or the listener is bound to the wildcard; Unix: same
 * bound file, or same name without one). The client end of a connection never has those, so a
 * connection made from the same host is counted once. Sockets nobody holds (inode 0: queued for
 * accept, or closed and left to the kernel to flush) are not connections; queued ones are counted in
 * `acceptQueue`, and flushing ones outlive their instance anyway.
 */
import { fstatSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { SyscallError } from '../errors.js';
import { netlinkDump } from '../native/index.js';
import { endpointKey, isWildcard } from './inet-address.js';
import { TCP_DATA_STATES, TCP_LISTEN, type TcpSocketRow, inetDiagRequest, parseInetDiag } from './inet-diag.js';
import { NETLINK_SOCK_DIAG } from './netlink-message.js';
import { procNetTcp, procNetUnix } from './proc-net.js';
import { UNIX_ESTABLISHED, UNIX_LISTEN, type UnixSocketRow, parseUnixDiag, unixDiagRequest } from './unix-diag.js';

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
  readonly acceptQueue: number | null;
}

export type CounterSource = 'netlink' | 'proc';

export interface SampleOptions {
  /**
   * Inodes of sockets the gateway itself holds (see ownSocketInodes). A connection whose client end is
   * one of them (the HTTP upstream pool's) is not counted: the front already counts its requests.
   */
  readonly exclude?: ReadonlySet<number>;
}

/** Errors that mean sock_diag will not work in this process, ever: stop asking. */
const PERMANENT = new Set(['EPERM', 'EACCES', 'EPROTONOSUPPORT', 'EAFNOSUPPORT', 'ENOENT', 'EOPNOTSUPP', 'EINVAL']);

export class KernelCounters {
  #netlink: { tcp: boolean; unix: boolean };
  #fallbackReason: string | null = null;
  /** Bytes per TCP connection at the previous sample, for bytesMoved. */
  #previous = new Map<string, number>();
  /** The sample in flight, which the next one waits for. */
  #queue: Promise<unknown> = Promise.resolve();

  /** `source: 'proc'` skips sock_diag altogether (tests, or a host where it is known to be blocked). */
  constructor(opts: { readonly source?: CounterSource } = {}) {
    const netlink = opts.source !== 'proc';
    this.#netlink = { tcp: netlink, unix: netlink };
  }

  /** Why the /proc fallback is in use (the first failure), or null while sock_diag answers. */
  get fallbackReason(): string | null {
    return this.#fallbackReason;
  }

  /**
   * Listeners the kernel no longer has (closed fd, wrong inode) are absent from the result. The dumps
   * run on libuv threads; concurrent calls are queued, so bytesMoved always spans consecutive samples.
   */
  sample(listeners: readonly HeldListener[], opts: SampleOptions = {}): Promise<Map<string, ListenerCounters>> {
    const next = this.#queue.then(() => this.#sample(listeners, opts.exclude ?? new Set()));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #sample(listeners: readonly HeldListener[], exclude: ReadonlySet<number>): Promise<Map<string, ListenerCounters>> {
    const out = new Map<string, ListenerCounters>();
    const tcp = listeners.filter((l) => l.kind === 'tcp');
    const unix = listeners.filter((l) => l.kind === 'unix');
    const [tcpRows, unixRows] = await Promise.all([
      tcp.length > 0 ? this.#tcpRows(new Set(tcp.map((l) => l.inode)), exclude) : [],
      unix.length > 0 ? this.#unixRows() : [],
    ]);
    const seen = new Map<string, number>();
    if (tcp.length > 0) countTcp(tcpRows, tcp, exclude, this.#previous, seen, out);
    if (unix.length > 0) countUnix(unixRows, unix, exclude, out);
    this.#previous = seen;
    return out;
  }

  /** Rows of the held listeners, of connections on their ports, and of the gateway's own client ends. */
  async #tcpRows(wanted: ReadonlySet<number>, exclude: ReadonlySet<number>): Promise<TcpSocketRow[]> {
    if (this.#netlink.tcp) {
      try {
        const dumps = await Promise.all([4, 6].map((f) => netlinkDump(NETLINK_SOCK_DIAG, inetDiagRequest(f as 4 | 6))));
        // Two passes: the held listeners' ports first, so that only the sockets on them get a row.
        const held = dumps.flatMap((d) => parseInetDiag(d, (_f, state, _port, inode) => state === TCP_LISTEN && wanted.has(inode)));
        const ports = new Set(held.map((r) => `${r.family}|${r.localPort}`));
        const onPorts = (family: 4 | 6, state: number, port: number, inode: number) =>
          state !== TCP_LISTEN && (exclude.has(inode) || (inode !== 0 && ports.has(`${family}|${port}`)));
        return [...held, ...dumps.flatMap((d) => parseInetDiag(d, onPorts))];
      } catch (err) {
        this.#degrade('tcp', err);
      }
    }
    const [v4, v6] = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'latin1')));
    return [...procNetTcp(4, v4), ...procNetTcp(6, v6)];
  }

  async #unixRows(): Promise<UnixSocketRow[]> {
    if (this.#netlink.unix) {
      try {
        return parseUnixDiag(await netlinkDump(NETLINK_SOCK_DIAG, unixDiagRequest()));
      } catch (err) {
        this.#degrade('unix', err);
      }
    }
    return procNetUnix(await readFile('/proc/net/unix', 'latin1'));
  }

  #degrade(kind: 'tcp' | 'unix', err: unknown): void {
    if (!(err instanceof SyscallError)) throw err;
    this.#fallbackReason ??= `${kind} sock_diag: ${err.message}`;
    if (PERMANENT.has(err.errno)) this.#netlink[kind] = false;
  }
}

function countTcp(
  rows: readonly TcpSocketRow[],
  held: readonly HeldListener[],
  exclude: ReadonlySet<number>,
  previous: ReadonlyMap<string, number>,
  seen: Map<string, number>,
  out: Map<string, ListenerCounters>,
): void {
  const wanted = new Map(held.map((l) => [l.inode, l.key]));
  type Tally = { address: string; key: string; connections: number; bytes: number | null; moved: number | null; queued: number; accept: number };
  const byPort = new Map<string, Tally[]>();
  const tallies: Tally[] = [];
  for (const r of rows) {
    const key = r.state === TCP_LISTEN ? wanted.get(r.inode) : undefined;
    if (key === undefined) continue;
    const counts = r.bytesAcked !== null;
    const t: Tally = { address: r.localAddress, key, connections: 0, bytes: counts ? 0 : null, moved: counts ? 0 : null, queued: 0, accept: r.rqueue };
    tallies.push(t);
    const port = `${r.family}|${r.localPort}`;
    byPort.set(port, [...(byPort.get(port) ?? []), t]);
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
    const candidates = byPort.get(`${r.family}|${r.localPort}`);
    if (!candidates) continue;
    const t = candidates.find((c) => c.address === r.localAddress) ?? candidates.find((c) => isWildcard(c.address));
    if (!t) continue;
    if (own.size > 0 && own.has(`${endpointKey(r.remoteAddress, r.remotePort)}>${endpointKey(r.localAddress, r.localPort)}`)) continue;
    t.connections++;
    t.queued += r.rqueue + r.wqueue;
    if (r.bytesAcked !== null && r.bytesReceived !== null && t.bytes !== null && t.moved !== null) {
      const bytes = r.bytesAcked + r.bytesReceived;
      const id = `${r.inode}|${r.localAddress}|${r.localPort}|${r.remoteAddress}|${r.remotePort}`;
      t.bytes += bytes;
      t.moved += bytes - (previous.get(id) ?? 0);
      seen.set(id, bytes);
    }
  }
  for (const t of tallies) {
    out.set(t.key, { connections: t.connections, bytes: t.bytes, bytesMoved: t.moved, queuedBytes: t.queued, acceptQueue: t.accept });
  }
}

function countUnix(rows: readonly UnixSocketRow[], held: readonly HeldListener[], exclude: ReadonlySet<number>, out: Map<string, ListenerCounters>): void {
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

/** What ties an accepted Unix socket to its listener: the shared bound file, else the name (abstract sockets). */
function identity(r: UnixSocketRow): string | null {
  if (r.file !== null) return `${r.type}|file|${r.file}`;
  return r.name === null ? null : `${r.type}|name|${r.name}`;
}

/** st_ino of a socket fd: the inode sock_diag and /proc/net report for it. */
export function socketInode(fd: number): number {
  return fstatSync(fd).ino;
}

/**
 * Inodes of every socket this process holds, for SampleOptions.exclude: fstat of each open fd (cheaper
 * than readlink of /proc/self/fd/N). It costs about a microsecond per open fd: refresh it when the
 * gateway's own connections change, not necessarily at every sample.
 */
export function ownSocketInodes(): Set<number> {
  const inodes = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      const st = fstatSync(Number(name));
      if (st.isSocket()) inodes.add(st.ino);
    } catch {
      // closed between readdir and fstat (the directory's own fd among them)
    }
  }
  return inodes;
}
