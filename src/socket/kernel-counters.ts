/**
 * Per-listener use, read from the kernel instead of the data path: for each listening socket the gateway
 * holds, how many accepted connections exist, how many bytes they moved, and how many connections wait
 * in its accept queue. One sample costs one dump per family (TCP over IPv4, over IPv6, Unix), whatever
 * the number of listeners. Policy (what counts as idle) belongs to the caller; which connection
 * belongs to which listener is listener-tally.ts.
 */
import { fstatSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { netlinkDump } from '../native/index.js';
import { TCP_LISTEN, type TcpSocketRow, inetDiagRequest, parseInetDiag } from './inet-diag.js';
import { type HeldListener, type ListenerCounters, countTcp, countUnix } from './listener-tally.js';
import { NETLINK_SOCK_DIAG } from './netlink-message.js';
import { procNetTcp, procNetUnix } from './proc-net.js';
import { SockDiagState } from './sock-diag-state.js';
import { type UnixSocketRow, parseUnixDiag, unixDiagRequest } from './unix-diag.js';

export type { HeldListener, ListenerCounters } from './listener-tally.js';

export type CounterSource = 'netlink' | 'proc';

export interface SampleOptions {
  /**
   * Inodes of sockets the gateway itself holds (see ownSocketInodes). A connection whose client end is
   * one of them (the HTTP upstream pool's) is not counted: the front already counts its requests.
   */
  readonly exclude?: ReadonlySet<number>;
}

export class KernelCounters {
  readonly #netlink: boolean;
  readonly #diag: SockDiagState;
  /** Where the previous sample's rows came from, per family. */
  #sources: { tcp: CounterSource; unix: CounterSource };
  /** Bytes per TCP connection at the previous sample, for bytesMoved. */
  #previous = new Map<number, number>();
  /** The sample in flight, which the next one waits for. */
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * `source: 'proc'` skips sock_diag altogether (tests, or a host where it is known to be blocked). `diag`
   * is shared by a gateway's samplers, so that one refusal switches (and is reported) once for all.
   */
  constructor(opts: { readonly source?: CounterSource; readonly diag?: SockDiagState } = {}) {
    this.#netlink = opts.source !== 'proc';
    this.#diag = opts.diag ?? new SockDiagState();
    const first = this.#netlink ? 'netlink' : 'proc';
    this.#sources = { tcp: first, unix: first };
  }

  /** Why the /proc fallback is in use for good (the first permanent refusal), or null while sock_diag answers. */
  get fallbackReason(): string | null {
    return this.#netlink ? this.#diag.reason : 'sock_diag not used';
  }

  /**
   * Where the previous sample's rows came from, per family. `proc` rows have no byte counts and no Unix
   * peers (so the gateway's own connections cannot be told apart); also after a failure that is not
   * permanent, for that sample only.
   */
  get sources(): { readonly tcp: CounterSource; readonly unix: CounterSource } {
    return { ...this.#sources };
  }

  /**
   * Listeners the kernel no longer has (closed fd, wrong inode) are absent from the result. The dumps
   * run on libuv threads; concurrent calls are queued, so bytesMoved always spans consecutive samples.
   * bytesMoved compares with this sampler's previous call only: sample the same listeners every time
   * (a connection left out of one call counts whole in the next), or keep one sampler per set.
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
    const seen = new Map<number, number>();
    if (tcp.length > 0) countTcp(tcpRows, tcp, exclude, this.#previous, seen, out);
    if (unix.length > 0) countUnix(unixRows, unix, exclude, out);
    this.#previous = seen;
    return out;
  }

  /** Rows of the held listeners, of connections on their ports, and of the gateway's own client ends. */
  async #tcpRows(wanted: ReadonlySet<number>, exclude: ReadonlySet<number>): Promise<TcpSocketRow[]> {
    if (this.#netlink && this.#diag.answers('tcp')) {
      try {
        const dumps = await Promise.all([4, 6].map((f) => netlinkDump(NETLINK_SOCK_DIAG, inetDiagRequest(f as 4 | 6))));
        // Two passes: the held listeners' ports first, so that only the sockets on them get a row.
        const held = dumps.flatMap((d) => parseInetDiag(d, (_f, state, _port, inode) => state === TCP_LISTEN && wanted.has(inode)));
        const ports = new Set(held.map((r) => r.family * 65536 + r.localPort));
        const onPorts = (family: 4 | 6, state: number, port: number, inode: number) =>
          state !== TCP_LISTEN && (exclude.has(inode) || (inode !== 0 && ports.has(family * 65536 + port)));
        this.#sources.tcp = 'netlink';
        return [...held, ...dumps.flatMap((d) => parseInetDiag(d, onPorts))];
      } catch (err) {
        this.#diag.failed('tcp', err);
      }
    }
    this.#sources.tcp = 'proc';
    const [v4, v6] = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'latin1')));
    return [...procNetTcp(4, v4), ...procNetTcp(6, v6)];
  }

  async #unixRows(): Promise<UnixSocketRow[]> {
    if (this.#netlink && this.#diag.answers('unix')) {
      try {
        const rows = parseUnixDiag(await netlinkDump(NETLINK_SOCK_DIAG, unixDiagRequest()));
        this.#sources.unix = 'netlink';
        return rows;
      } catch (err) {
        this.#diag.failed('unix', err);
      }
    }
    this.#sources.unix = 'proc';
    return procNetUnix(await readFile('/proc/net/unix', 'latin1'));
  }
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
