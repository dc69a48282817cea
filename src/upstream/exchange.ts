import type { ExchangeControl, ExchangeHandler, UpstreamRequest } from './pool.js';

/** The parts of a connection an exchange steers. */
export interface ExchangeCarrier {
  pause(): void;
  resume(): void;
  /** Drops the exchange and closes the connection. */
  drop(): void;
}

/** Methods that may be sent again when a reused connection closed before any answer (RFC 9110 §9.2.2). */
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * One request and its response, as the proxy sees it: the control it holds stays the same when the pool
 * moves the request to a fresh connection (a retry), so the proxy's timers and writers are made once.
 */
export class Exchange implements ExchangeControl {
  carrier: ExchangeCarrier | undefined;
  /** Set once the proxy has been told it started; a retry does not tell it twice. */
  started = false;
  retried = false;
  done = false;
  private paused = false;

  constructor(
    readonly request: UpstreamRequest,
    readonly handler: ExchangeHandler,
  ) {}

  /** May go once more, on a fresh connection: nothing of it can have been acted on that a resend would repeat twice. */
  get retryable(): boolean {
    return !this.retried && this.request.body === null && RETRYABLE.has(this.request.method);
  }

  attach(carrier: ExchangeCarrier): void {
    this.carrier = carrier;
    if (this.paused) carrier.pause();
    if (this.started) return;
    this.started = true;
    this.handler.onStart(this);
  }

  pause(): void {
    this.paused = true;
    this.carrier?.pause();
  }

  resume(): void {
    this.paused = false;
    this.carrier?.resume();
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.carrier?.drop();
    this.carrier = undefined;
  }

  /** The one place an exchange ends by failure: at most once, never after an abort or an end. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.carrier = undefined;
    this.handler.onError(err);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.carrier = undefined;
    this.handler.onEnd();
  }
}
