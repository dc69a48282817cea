import { Pool, type Dispatcher } from 'undici';

/** A connection pool to one app socket, for the lifetime of one instance. */
export interface Upstream {
  readonly dispatcher: Dispatcher;
  /** Lets in-flight requests finish, then closes every connection. */
  close(): void;
  /** Fails every request still on this pool with `reason`, and closes every connection. */
  destroy(reason: Error): void;
}

export interface UpstreamOptions {
  /**
   * Concurrent connections: the app's `concurrency`. The activator's breaker admits no more requests than
   * that, so none waits inside undici, where no limit, order or timeout of ours would apply.
   */
  readonly connections: number;
}

/**
 * An undici Pool on the app's Unix socket. Connecting succeeds as soon as the socket listens (the connection
 * waits in the backlog until the instance accepts), so requests are sent without any readiness check.
 * Timeouts are the activator's business (start timeout) and the client's; undici's own are disabled.
 * `socketPath` is looked up at every new connection, so pass AppSocket's `connectPath` (through the held
 * directory), never the on-disk path another user might swap.
 */
export function createUpstream(socketPath: string, options: UpstreamOptions): Upstream {
  const pool = new Pool('http://app.invalid', {
    socketPath,
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  // close/destroy reject only when already closed; that is the state we want anyway.
  return {
    dispatcher: pool,
    close: () => void pool.close().catch(() => {}),
    destroy: (reason) => void pool.destroy(reason).catch(() => {}),
  };
}
