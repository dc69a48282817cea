import type { EventEmitter } from 'node:events';
import { DBusError, Message, MessageType, systemBus, Variant, type MessageBus } from 'dbus-next';
import { DbusCallError } from '../dbus-errors.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';

export { Variant };

/** One method call; `body` matches `signature` as dbus-next marshals it (64-bit integers as bigint). */
export interface MethodCall {
  readonly destination: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: readonly unknown[];
}

export interface BusSignal {
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly body: readonly unknown[];
}

/** What the bus calls on every (re)connection before any other call goes out: AddMatch, Subscribe. */
export type ConnectHook = (bus: SystemBus) => Promise<void>;

const DISCONNECTED = 'org.freedesktop.DBus.Error.Disconnected';
const TIMEOUT = 'org.freedesktop.DBus.Error.Timeout';

/**
 * The system bus, typed: dbus-next's own types leave bodies and events as `any`. A lost connection (the bus
 * daemon restarted) is reconnected with a doubling backoff; calls made meanwhile wait for it within their
 * bound, and the connect hooks run again first, since a new connection has no match rules nor subscription.
 */
export class SystemBus {
  private bus: MessageBus | undefined;
  private reconnecting: Promise<MessageBus> | undefined;
  private closed = false;
  private readonly signalListeners = new Set<(signal: BusSignal) => void>();
  private readonly hooks: ConnectHook[] = [];

  private constructor(private readonly log: Logger) {}

  /** Connects once; rejects with the reason (no socket, refused, no answer) for start-up to report. */
  static async open(log: Logger, hooks: readonly ConnectHook[] = []): Promise<SystemBus> {
    const bus = new SystemBus(log);
    bus.hooks.push(...hooks);
    bus.bus = await bus.connectOnce();
    try {
      for (const hook of bus.hooks) await hook(bus);
    } catch (err) {
      bus.close();
      throw err;
    }
    return bus;
  }

  onSignal(listener: (signal: BusSignal) => void): void {
    this.signalListeners.add(listener);
  }

  async call(c: MethodCall): Promise<unknown[]> {
    const bounded = DEFAULTS.internal.dbusCallTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DbusCallError(c.member, TIMEOUT, `no answer within ${bounded} ms`)), bounded);
    });
    try {
      return await Promise.race([this.callOn(c), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    this.bus?.disconnect();
    this.bus = undefined;
  }

  private async callOn(c: MethodCall): Promise<unknown[]> {
    const bus = this.bus ?? (await this.reconnect());
    const message = new Message({ destination: c.destination, path: c.path, interface: c.interface, member: c.member, signature: c.signature ?? '', body: [...(c.body ?? [])] });
    try {
      const reply = await bus.call(message);
      return reply?.body ?? [];
    } catch (err) {
      if (err instanceof DBusError) throw new DbusCallError(c.member, err.type, err.text, { cause: err });
      throw new DbusCallError(c.member, DISCONNECTED, err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  private connectOnce(): Promise<MessageBus> {
    return new Promise((resolve, reject) => {
      let bus: MessageBus;
      try {
        bus = systemBus();
      } catch (err) {
        return reject(err);
      }
      let up = false;
      const timer = setTimeout(() => {
        bus.disconnect();
        reject(new Error(`the system bus did not answer Hello within ${DEFAULTS.internal.dbusCallTimeoutMs} ms`));
      }, DEFAULTS.internal.dbusCallTimeoutMs);
      bus.on('connect', () => {
        up = true;
        clearTimeout(timer);
        resolve(bus);
      });
      bus.on('error', (err: unknown) => {
        clearTimeout(timer);
        if (!up) reject(err instanceof Error ? err : new Error(String(err)));
        else this.lost(bus, err);
      });
      bus.on('message', (msg: Message) => {
        if (msg.type !== MessageType.SIGNAL) return;
        const signal: BusSignal = { path: msg.path, interface: msg.interface, member: msg.member, body: msg.body as unknown[] };
        for (const listener of this.signalListeners) listener(signal);
      });
      // dbus-next does not forward the end of its stream, which is how a restarted bus daemon shows.
      const connection = (bus as unknown as { _connection?: EventEmitter })._connection;
      connection?.on('end', () => this.lost(bus, new Error('the system bus closed the connection')));
    });
  }

  private lost(bus: MessageBus, err: unknown): void {
    if (this.bus !== bus || this.closed) return;
    this.bus = undefined;
    bus.disconnect();
    this.log.warn({ err }, 'lost the system bus connection, reconnecting');
    void this.reconnect().catch(() => undefined);
  }

  /** One reconnection loop at a time; resolves once connected and the hooks ran again. */
  private reconnect(): Promise<MessageBus> {
    this.reconnecting ??= (async () => {
      let wait: number = DEFAULTS.internal.dbusReconnectInitialMs;
      for (let attempt = 1; ; attempt++) {
        if (this.closed) throw new DbusCallError('Hello', DISCONNECTED, 'the bus connection was closed');
        try {
          const bus = await this.connectOnce();
          this.bus = bus;
          for (const hook of this.hooks) await hook(this);
          this.log.info({ attempt }, 'reconnected to the system bus');
          return bus;
        } catch (err) {
          if (this.bus) { this.bus.disconnect(); this.bus = undefined; }
          this.log.debug({ err, attempt, retryInMs: wait }, 'system bus reconnection failed');
          await new Promise((done) => setTimeout(done, wait).unref());
          wait = Math.min(wait * 2, DEFAULTS.internal.dbusReconnectMaxMs);
        }
      }
    })().finally(() => { this.reconnecting = undefined; });
    return this.reconnecting;
  }
}
