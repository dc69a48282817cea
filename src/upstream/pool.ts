import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ConnectionPool } from './connection-pool.js';
import type { ResponseHead } from './response-head.js';

/** One request for the app, as the proxy hands it over. */
export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  /** Flat [name, value, ...] pairs, hop-by-hop fields already removed (forwarded.ts). */
  readonly headers: readonly string[];
  /** The client's request when it has a body; read only as fast as the app takes it. */
  readonly body: Readable | null;
}

/** What the proxy may do to an exchange once it is on a connection. */
export interface ExchangeControl {
  /** Stops reading the response (the client is full); `resume` reads on. */
  pause(): void;
  resume(): void;
  /** Ends the exchange from the proxy's side: its connection is closed, and no handler call follows. */
  abort(reason: Error): void;
}

/** The proxy's side of one exchange. Exactly one of onEnd and onError ends it, unless it was aborted. */
export interface ExchangeHandler {
  /** The request is on a connection to the instance (time queued before is not the app's). */
  onStart(control: ExchangeControl): void;
  /** The final response head (1xx are dropped: node:http answered 100-continue itself). */
  onHead(head: ResponseHead): void;
  /** Body bytes, framing removed; the buffer is valid during the call only. */
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error): void;
}

export interface UpstreamDispatcher {
  dispatch(request: UpstreamRequest, handler: ExchangeHandler): void;
  /** Upgrade requests (WebSocket) only: undici's, made on first use. */
  readonly upgrades: Dispatcher;
}

/** A connection pool to one app socket, for the lifetime of one instance. */
export interface Upstream {
  readonly dispatcher: UpstreamDispatcher;
  /** Lets in-flight requests finish, then closes every connection. */
  close(): void;
  /** Fails every request still on this pool with `reason`, and closes every connection. */
  destroy(reason: Error): void;
}

export interface UpstreamOptions {
  /**
   * Concurrent connections: the app's `concurrency`. The activator's breaker admits no more requests than
   * that, so none waits in the pool, where no limit, order or timeout of ours would apply.
   */
  readonly connections: number;
}

/**
 * The gateway's own pool on the app's Unix socket (connection-pool.ts). Connecting succeeds as soon as the
 * socket listens (the connection waits in the backlog until the instance accepts), so requests are sent
 * without any readiness check. Timeouts are the activator's business (start timeout) and the proxy's.
 * `socketPath` is used at every new connection, so pass AppSocket's `connectPath` (through the held
 * directory), never the on-disk path another user might swap.
 */
export function createUpstream(socketPath: string, options: UpstreamOptions): Upstream {
  const pool = new ConnectionPool(socketPath, options.connections);
  return { dispatcher: pool, close: () => pool.close(), destroy: (reason) => pool.destroy(reason) };
}
