import type { Dispatcher } from 'undici';
import { Pool } from 'undici';
import { Exchange } from './exchange.js';
import type { ExchangeHandler, UpstreamDispatcher, UpstreamRequest } from './pool.js';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.js';

/**
 * Up to `max` keep-alive connections to one app socket. An idle connection is reused most-recent first
 * (the one least likely to have been closed by the app's own keep-alive timeout); an exchange finding
 * every connection busy waits in order, which the breaker (as many slots as connections) keeps from
 * happening but for the moment a connection takes to be handed back.
 */
export class ConnectionPool implements UpstreamDispatcher, ConnectionOwner {
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly queue: Exchange[] = [];
  private closing = false;
  private destroyed: Error | undefined;
  private undici: Pool | undefined;

  constructor(
    private readonly path: string,
    private readonly max: number,
  ) {}

  /**
   * Upgrades stay on undici: one per long-lived connection, off the per-request path, and its handover
   * of the upgraded socket is what upgrade.ts and its tests rely on.
   */
  get upgrades(): Dispatcher {
    this.undici ??= new Pool('http://app.invalid', {
      socketPath: this.path,
      connections: this.max,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    // Made after the pool ended: it fails (or finishes) its requests as this pool does.
    if (this.destroyed) this.undici.destroy(this.destroyed).catch(() => {});
    else if (this.closing) this.undici.close().catch(() => {});
    return this.undici;
  }

  dispatch(request: UpstreamRequest, handler: ExchangeHandler): void {
    this.run(new Exchange(request, handler));
  }

  private run(exchange: Exchange): void {
    if (this.destroyed || this.closing) return exchange.fail(this.destroyed ?? new Error('the upstream pool is closed'));
    this.place(exchange, false);
  }

  /** On a fresh connection: a queued exchange, once a connection went away (also while closing). */
  private send(exchange: Exchange): void {
    if (this.destroyed) return exchange.fail(this.destroyed);
    this.place(exchange, true);
  }

  private place(exchange: Exchange, fresh: boolean): void {
    // Aborted while it waited (its client left, or its response timeout ran out).
    if (exchange.done) return;
    let conn = fresh ? undefined : this.idle.pop();
    if (!conn && this.all.size < this.max) {
      conn = new UpstreamConnection(this.path, this);
      this.all.add(conn);
    }
    if (conn) conn.send(exchange);
    else this.queue.push(exchange);
  }

  reusable(conn: UpstreamConnection): void {
    let next = this.destroyed ? undefined : this.queue.shift();
    while (next?.done) next = this.queue.shift();
    if (next) return conn.send(next);
    if (this.closing || this.destroyed) return conn.drop();
    this.idle.push(conn);
    conn.idle();
  }

  gone(conn: UpstreamConnection): void {
    this.all.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    if (this.queue.length > 0 && !this.destroyed) this.send(this.queue.shift()!);
  }

  /** In-flight exchanges finish (their connections close as they do); idle ones close now. */
  close(): void {
    this.closing = true;
    for (const conn of this.idle.splice(0)) conn.drop();
    this.undici?.close().catch(() => {});
  }

  destroy(reason: Error): void {
    this.destroyed = reason;
    for (const exchange of this.queue.splice(0)) exchange.fail(reason);
    for (const conn of [...this.all]) conn.fail(reason);
    this.undici?.destroy(reason).catch(() => {});
  }
}
