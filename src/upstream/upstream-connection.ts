import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { DEFAULTS } from '../defaults.js';
import type { Exchange, ExchangeCarrier } from './exchange.js';
import { requestHead } from './request-head.js';
import { ResponseParser } from './response-parser.js';
import type { ResponseHead } from './response-head.js';

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The exchange is over and the connection can carry another. */
  reusable(conn: UpstreamConnection): void;
  /** The connection is closed. */
  gone(conn: UpstreamConnection): void;
}

/** The app closed or reset the connection; for a request on it, the proxy's 502 (UpstreamError). */
export class UpstreamClosedError extends Error {
  constructor(detail: string) {
    super(`the app closed the connection ${detail}`);
  }
}

/**
 * One keep-alive connection to the app's socket, carrying one exchange at a time (no pipelining: an
 * app that stalls one response holds up no other). The request head goes out in one write; the body is
 * read from the client only as fast as the socket takes it; response bytes are scanned by the strict
 * parser and handed to the exchange without a copy.
 */
export class UpstreamConnection implements ExchangeCarrier {
  private readonly socket: Socket;
  private readonly parser: ResponseParser;
  private exchange: Exchange | undefined;
  private requestBody: Readable | null = null;
  private bodyDone = true;
  private chunked = false;
  private responded = false;
  private completed = false;
  private keep = false;
  private closed = false;

  constructor(
    path: string,
    private readonly owner: ConnectionOwner,
  ) {
    this.parser = new ResponseParser(this, DEFAULTS.internal.upstreamMaxHeadSize);
    this.socket = connect(path);
    this.socket.setNoDelay(true);
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('error', () => {}); // 'close' follows, and says what is lost
    this.socket.on('close', this.onClose);
    this.socket.on('timeout', () => this.exchange === undefined && this.socket.destroy());
  }

  send(exchange: Exchange): void {
    this.exchange = exchange;
    this.responded = false;
    this.socket.setTimeout(0);
    // Handed over straight from an exchange that had paused it for its client.
    this.socket.resume();
    const { request } = exchange;
    const head = requestHead(request);
    this.parser.expect(request.method);
    this.socket.write(head.text, 'latin1');
    this.chunked = head.chunked;
    this.requestBody = request.body;
    this.bodyDone = this.requestBody === null;
    if (this.requestBody) {
      this.requestBody.on('data', this.onBodyData);
      this.requestBody.on('end', this.onBodyEnd);
      this.requestBody.on('close', this.onBodyClose);
    }
    exchange.attach(this);
  }

  /** Idle in the pool: closed after the keep-alive time, as the app may close it first. */
  idle(): void {
    // Reading on while idle: whatever the app sends now closes the connection (onData) rather than waiting.
    this.socket.resume();
    this.socket.setTimeout(DEFAULTS.internal.upstreamKeepAliveMs);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  drop(): void {
    this.exchange = undefined;
    this.socket.destroy();
  }

  /** Fails the exchange on it, if any, and closes. */
  fail(reason: Error): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.socket.destroy();
    exchange?.fail(reason);
  }

  // ResponseEvents, called by the parser from inside onData.
  head(head: ResponseHead): void {
    this.exchange?.handler.onHead(head);
  }

  body(chunk: Buffer): void {
    this.exchange?.handler.onData(chunk);
  }

  end(reusable: boolean): void {
    this.completed = true;
    this.keep = reusable;
  }

  private readonly onData = (chunk: Buffer): void => {
    const exchange = this.exchange;
    // Bytes with no request to answer: whatever they are, this connection can no longer be trusted.
    if (!exchange) return void this.socket.destroy();
    this.responded = true;
    let used: number;
    try {
      used = this.parser.execute(chunk);
    } catch (err) {
      return this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.completed) this.complete(this.keep && used === chunk.length);
  };

  private complete(keep: boolean): void {
    this.completed = false;
    const exchange = this.exchange!;
    this.exchange = undefined;
    // Answered before the whole body was sent: the rest would reach the app as a next request.
    const reuse = keep && this.bodyDone && !this.closed;
    this.detachBody();
    if (!reuse) this.socket.destroy();
    exchange.end();
    if (reuse) this.owner.reusable(this);
  }

  private readonly onEnd = (): void => {
    // Before any answer, 'close' fails the exchange (UpstreamClosedError).
    if (!this.exchange || !this.responded) return void this.socket.destroy();
    try {
      this.parser.finish();
    } catch (err) {
      return this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.completed) this.complete(false);
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.detachBody();
    const exchange = this.exchange;
    this.exchange = undefined;
    // Never sent again, even an idempotent request on a reused connection the app closed unanswered: the
    // close may be the instance dying of this very request, and the bytes of a resend would wait in the
    // socket's backlog for its successor, which would die of it too (undici does not resend either).
    this.owner.gone(this);
    exchange?.fail(new UpstreamClosedError(this.responded ? 'inside its response' : 'before a response'));
  };

  private readonly onBodyData = (chunk: Buffer): void => {
    const socket = this.socket;
    // An empty chunk would read as the last one ("0\r\n\r\n") and end the body early.
    if (chunk.length === 0) return;
    if (this.chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      socket.write('\r\n');
      socket.uncork();
    } else socket.write(chunk);
    if (socket.writableNeedDrain) {
      this.requestBody!.pause();
      socket.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
    this.requestBody?.resume();
  };

  private readonly onBodyEnd = (): void => {
    if (this.chunked && this.exchange) this.socket.write('0\r\n\r\n');
    this.bodyDone = true;
    this.detachBody();
  };

  /** The client's request closed before its end: the app was sent an incomplete request. */
  private readonly onBodyClose = (): void => {
    if (!this.bodyDone) this.fail(new Error('the client closed its request before the end of its body'));
  };

  private detachBody(): void {
    const body = this.requestBody;
    if (!body) return;
    this.requestBody = null;
    body.removeListener('data', this.onBodyData);
    body.removeListener('end', this.onBodyEnd);
    body.removeListener('close', this.onBodyClose);
    this.socket.removeListener('drain', this.onDrain);
    // The rest of a body the app no longer reads is discarded, as node:http does with a body nobody reads,
    // so that the client's next request on its connection can be read.
    if (!this.bodyDone) body.resume();
  }
}
