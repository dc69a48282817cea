import type { ExchangeControl, ExchangeHandler, UpstreamRequest } from './pool.js';

/** The parts of a connection an exchange steers. */
export interface ExchangeCarrier {
  pause(): void;
  resume(): void;
  /** Drops the exchange and closes the connection. */
  drop(): void;
}

/**
 * One request and its response, as the proxy sees it: the control it holds, whichever connection the pool
 * puts the request on (a queued one waits for the first that is free).
 */
export class Exchange implements ExchangeControl {
  carrier: ExchangeCarrier | undefined;
  /** Set once the proxy has been told it started. */
  started = false;
  done = false;
  private paused = false;

  constructor(
    readonly request: UpstreamRequest,
    readonly handler: ExchangeHandler,
  ) {}

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
