import type { AppListen, AppSpec } from '../config/types.js';
import { addressKey } from '../config/checks.js';
import type { BoundAddress } from '../listen.js';
import type { HandedSocket } from '../runtime/runtime.js';
import { AppSocket, type SocketDir } from '../upstream/app-socket.js';
import { type HeldListener, socketInode } from './kernel-counters.js';
import { ListenSocket, type SocketAccess, addressText } from './listen-socket.js';

/**
 * Where sockets may come from besides a fresh bind, and who keeps them across a gateway restart (the
 * service manager's fd store, src/systemd/); declared here, where it is consumed.
 */
export interface SocketKeeper {
  /** A passed socket for the app's HTTP app socket (its file at the path checked), taken at most once; else undefined. */
  takeHttp(app: string): number | undefined;
  /** A passed socket bound to `entry`'s address, taken at most once; else undefined. */
  takeListen(app: string, entry: AppListen): number | undefined;
  /** The store name of a socket the gateway binds itself. */
  nameHttp(app: string): string;
  nameListen(app: string, entry: AppListen): string;
  /** A socket bound by the gateway is in use: keep a copy for the next gateway. */
  keep(fdName: string, fd: number): void;
  /** A socket is closed for good (a reload removed it, or its app): drop the copy. */
  drop(fdName: string): void;
}

/** One socket an app's instances get: its HTTP app socket, or one of its own `listen` sockets. */
export interface HeldSocket {
  /** The LISTEN_FDNAMES entry. */
  readonly name: string;
  readonly kind: 'tcp' | 'unix';
  /** As the config writes it (`tcp:127.0.0.1:0`); `http` for the HTTP app socket. */
  readonly address: string;
  /** What it is bound to: the real port where the config said 0, the on-disk path of the HTTP app socket. */
  readonly bound: BoundAddress;
  /** The held fd; -1 once closed. */
  readonly fd: number;
  /** st_ino of the fd: what sock_diag and /proc/net name it by. */
  readonly inode: number;
  /** Its HeldListener key, unique in the gateway: `<app> <address>`. */
  readonly key: string;
}

interface Held extends HeldSocket {
  /** What makes two configs' sockets the same one: `http`, or the address (port 0 by its text). */
  readonly identity: string;
  /** One of the app's own `listen` sockets; undefined for the HTTP app socket. */
  readonly own?: ListenSocket;
  /** Its name in the fd store; undefined without a keeper. */
  readonly fdName: string | undefined;
  /** Passed by the service manager rather than bound here: it holds a copy already. */
  readonly adopted: boolean;
  /** `keepFile`: leave a Unix socket's file for the next gateway, which adopts the socket. */
  close(keepFile?: boolean): void;
}

/** The sockets a new spec needs, opened but not yet in use; `commit` or `abort` it. */
export interface SocketPlan {
  readonly next: readonly Held[];
  readonly opened: readonly Held[];
  /** Kept Unix sockets whose file got a new mode or group, with what they had: abort puts it back. */
  readonly restyled: ReadonlyArray<{ readonly socket: ListenSocket; readonly from: SocketAccess }>;
}

/**
 * The listening sockets of one app, in the order its instances get them (the HTTP app socket first when the
 * app has hosts, then its `listen` sockets in config order). A reload keeps a socket whose address is
 * unchanged, opens one for each new address, and closes a removed one only once no instance can hold it
 * any more (`closeRetired`, called when the app is stopped), so a running instance never loses a socket.
 */
/** Shared by every app with nothing retired, which is nearly all of them: an empty array each is 16 bytes and a header. */
const NONE: readonly Held[] = Object.freeze([]);

export class AppSockets {
  #current: readonly Held[] = NONE;
  #retired: readonly Held[] = NONE;

  constructor(
    readonly app: string,
    private readonly dir: SocketDir,
    private readonly keeper?: SocketKeeper,
  ) {}

  get list(): readonly HeldSocket[] {
    return this.#current;
  }

  handed(): HandedSocket[] {
    return this.#current.map((s) => ({ fd: s.fd, name: s.name }));
  }

  listeners(): HeldListener[] {
    return this.#current.map((s) => ({ key: s.key, kind: s.kind, inode: s.inode }));
  }

  /**
   * Opens what `spec` needs that this set lacks. Throws AppSocketError (a `listen` socket) or the HTTP app
   * socket's error, having closed whatever it opened: the set is as before.
   */
  async prepare(spec: AppSpec): Promise<SocketPlan> {
    const have = new Map([...this.#current, ...this.#retired].map((s) => [s.identity, s]));
    const next: Held[] = [];
    const opened: Held[] = [];
    const restyled: Array<{ socket: ListenSocket; from: SocketAccess }> = [];
    try {
      if (spec.hosts.length > 0) next.push(have.get('http') ?? remember(opened, this.http()));
      for (const entry of spec.listen) {
        const old = have.get(identityOf(entry));
        if (old) restyle(old, entry, restyled);
        next.push(old ? renamed(old, entry.name) : remember(opened, await this.open(entry, spec.backlog)));
      }
    } catch (err) {
      this.abort({ next, opened, restyled });
      throw err;
    }
    return { next, opened, restyled };
  }

  /** Switches to the plan's sockets; the ones it leaves out are closed by closeRetired. */
  commit(plan: SocketPlan): void {
    for (const s of plan.opened) if (!s.adopted && s.fdName !== undefined) this.keeper?.keep(s.fdName, s.fd);
    const keep = new Set(plan.next.map((s) => s.identity));
    const retired = [...this.#retired, ...this.#current].filter((s) => !keep.has(s.identity) && s.fd >= 0);
    this.#retired = retired.length === 0 ? NONE : [...new Map(retired.map((s) => [s.identity, s])).values()];
    // Sized to fit: the plan's array was pushed to, and this one is kept for as long as the app is configured.
    this.#current = plan.next.slice();
  }

  abort(plan: SocketPlan): void {
    for (const s of plan.opened) s.close();
    for (const { socket, from } of [...plan.restyled].reverse()) {
      try {
        socket.setAccess(from);
      } catch {
        // Left owner-only by the failed step: narrower than before, never wider.
      }
    }
  }

  /** Closes the sockets a reload removed; only while no instance runs, which may hold them. */
  closeRetired(): void {
    const retired = this.#retired;
    this.#retired = NONE;
    for (const s of retired) this.discard(s);
  }

  /**
   * Closes every socket and removes the socket files it created (removal, shutdown); with `keep` (a
   * shutdown whose sockets live on in the fd store) the current ones keep their files and store entries.
   */
  closeAll(keep = false): void {
    this.closeRetired();
    const current = this.#current;
    this.#current = NONE;
    for (const s of current) {
      if (keep) s.close(true);
      else this.discard(s);
    }
  }

  private discard(s: Held): void {
    s.close();
    if (s.fdName !== undefined) this.keeper?.drop(s.fdName);
  }

  private http(): Held {
    const passed = this.keeper?.takeHttp(this.app);
    const socket = passed === undefined ? AppSocket.create(this.dir, this.app) : AppSocket.adopt(this.dir, this.app, passed);
    return new HttpHeld(this.app, socket, this.keeper?.nameHttp(this.app), passed !== undefined);
  }

  private async open(entry: AppListen, backlog: number): Promise<Held> {
    const passed = this.keeper?.takeListen(this.app, entry);
    const access = accessOptions(entry);
    const socket = passed === undefined ? await ListenSocket.open(this.app, entry.address, { name: entry.name, backlog, ...access }) : ListenSocket.adopt(this.app, entry.address, entry.name, passed, access);
    const text = addressText(entry.address);
    return {
      identity: identityOf(entry),
      fdName: this.keeper?.nameListen(this.app, entry),
      adopted: passed !== undefined,
      name: entry.name,
      kind: socket.kind,
      address: text,
      bound: socket.bound,
      get fd() {
        return socket.fd;
      },
      inode: socketInode(socket.fd),
      key: `${this.app} ${text}`,
      own: socket,
      close: (keepFile) => socket.close(keepFile),
    };
  }
}

/**
 * The HTTP app socket as Held. A class, not an object literal: every configured app has one, and a literal
 * with a getter and a closure per app went to dictionary mode (about 1 KB each with its closures).
 */
class HttpHeld implements Held {
  readonly inode: number;
  #closed = false;

  constructor(
    readonly name: string,
    private readonly socket: AppSocket,
    readonly fdName: string | undefined,
    readonly adopted: boolean,
  ) {
    this.inode = socketInode(socket.fd);
  }

  // Getters, not fields: the same for every app, so kept once on the prototype rather than in each of them.
  get identity(): string {
    return 'http';
  }

  get kind(): 'unix' {
    return 'unix';
  }

  get address(): string {
    return 'http';
  }

  get fd(): number {
    return this.#closed ? -1 : this.socket.fd;
  }

  get bound(): BoundAddress {
    return { kind: 'unix', path: this.socket.path };
  }

  get key(): string {
    return `${this.name} http`;
  }

  close(keepFile?: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close(keepFile);
  }
}

function identityOf(entry: AppListen): string {
  return addressKey(entry.address) ?? addressText(entry.address);
}

function accessOptions(entry: AppListen): { mode?: number; group?: number } {
  return { ...(entry.mode !== undefined && { mode: entry.mode }), ...(entry.group !== undefined && { group: entry.group }) };
}

/**
 * A kept Unix socket whose entry now asks for another mode or group gets it on its file in place (a new
 * socket at the same path would take the path from the instance that holds the old one). Throws
 * AppSocketError, the file as it was.
 */
function restyle(old: Held, entry: AppListen, restyled: Array<{ socket: ListenSocket; from: SocketAccess }>): void {
  const from = old.own?.access;
  if (!old.own || !from || entry.mode === undefined) return;
  const to: SocketAccess = { mode: entry.mode, group: entry.group };
  if (from.mode === to.mode && from.group === to.group) return;
  old.own.setAccess(to);
  restyled.push({ socket: old.own, from });
}

function remember(opened: Held[], s: Held): Held {
  opened.push(s);
  return s;
}

/** The same socket under a new LISTEN_FDNAMES entry (a reload that changed only the name). */
function renamed(s: Held, name: string): Held {
  if (s.name === name) return s;
  return Object.defineProperties({ ...s, name }, { fd: { get: () => s.fd } }) as Held;
}
