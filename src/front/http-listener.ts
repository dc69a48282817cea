import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BUILTIN_LIMITS } from '../config/schema.js';
import type { Limits, ListenAddress } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { BadRequestError, HeadersTooLargeError, RequestTimeoutError, type WakegateError } from '../errors.js';
import { EventTally } from '../event-tally.js';
import { listenOn, type BoundAddress } from '../listen.js';
import { sendRawError } from './error-response.js';
import type { Logger } from '../log.js';
import { framingProblem } from './request-checks.js';
import type { RequestHandler } from './request-handler.js';

export type { BoundAddress };

/** Bounds of node:http's timer that enforces headersTimeout and requestTimeout (its default is 30 s). */
const MIN_CHECK_INTERVAL_MS = 100;
const MAX_CHECK_INTERVAL_MS = 30_000;

/**
 * node:http checks its request timeouts only every `connectionsCheckingInterval`, so a timeout is late by
 * up to that much: a quarter of the shortest timeout keeps the lateness to a quarter.
 */
export function checkingInterval(limits: Pick<Limits, 'headersTimeoutMs' | 'requestTimeoutMs'>): number {
  const timeouts = [limits.headersTimeoutMs, limits.requestTimeoutMs].filter((ms) => ms > 0);
  if (timeouts.length === 0) return MAX_CHECK_INTERVAL_MS;
  return Math.min(MAX_CHECK_INTERVAL_MS, Math.max(MIN_CHECK_INTERVAL_MS, Math.floor(Math.min(...timeouts) / 4)));
}

/** What the parser's complaint becomes for the client; see error-response.ts for the statuses. */
function parseFailure(err: NodeJS.ErrnoException & { reason?: string }, limits: Limits): WakegateError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return new HeadersTooLargeError(`more than ${limits.maxHeaderSize} bytes`);
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new RequestTimeoutError();
  return new BadRequestError(`malformed request (${err.reason ?? err.code ?? 'parse error'})`);
}

/** How the front guards the gateway's file descriptors (see connection-cap.ts). */
export interface ConnectionGuard {
  readonly maxConnections?: number;
  /** Connections closed at accept, summed per reason (`limit`, `EMFILE`, `ENFILE`) once per log interval. */
  readonly refused?: (reason: string, count: number) => void;
}

const FD_ERRORS = new Set(['EMFILE', 'ENFILE']);

/**
 * The shared front port. Node's strict parser (llhttp) enforces HTTP/1.1 framing: it refuses Content-Length
 * with Transfer-Encoding, duplicate or malformed Content-Length, bad chunk sizes, obs-fold, bare CR or LF,
 * control characters in headers and whitespace before a colon. What it lets
 * through but a gateway must not forward is refused by `framingProblem` before the request handler routes.
 */
export class HttpListener {
  private readonly server: Server;
  /**
   * Every open client connection, including those node:http no longer tracks (answered by sendRawError,
   * upgraded), with its responses not yet finished: to know whether an error answer would corrupt one,
   * and which to mark `Connection: close` at shutdown. Finished responses are dropped lazily (at the
   * connection's next request, or when looked at), so a response costs no listener of its own.
   */
  private readonly sockets = new Map<Socket, ServerResponse[]>();
  /** Set by close(): every answer from now on ends its connection (`Connection: close`). */
  private closing = false;
  /** Set once the keep-alive grace is over: a connection is closed as soon as it is idle. */
  private closeIdle = false;
  private readonly refusals: EventTally;

  constructor(
    handler: RequestHandler,
    private readonly log: Logger,
    private readonly limits: Limits = BUILTIN_LIMITS,
    guard: ConnectionGuard = {},
  ) {
    const cap = guard.maxConnections;
    this.refusals = new EventTally(DEFAULTS.internal.logSummaryIntervalMs, (reason, count) => {
      if (reason === 'limit') this.log.warn({ reason, count, maxConnections: this.server.maxConnections }, `refused ${count} connections: the front holds ${this.server.maxConnections} at most (sized from the open-file limit; raise LimitNOFILE)`);
      else this.log.error({ reason, count }, `failed to accept ${count} connections (${reason}: out of file descriptors), ignoring`);
      guard.refused?.(reason, count);
    });
    this.server = createServer(
      {
        // The router answers a missing Host, as a typed error like every other refusal.
        requireHostHeader: false,
        joinDuplicateHeaders: false,
        // Explicit, so that --insecure-http-parser in NODE_OPTIONS cannot make the front lenient.
        insecureHTTPParser: false,
        maxHeaderSize: limits.maxHeaderSize,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        connectionsCheckingInterval: checkingInterval(limits),
      },
      (req, res) =>
        this.guarded(req.socket, () => {
          this.track(req.socket, res);
          handler.onRequest(req, res, framingProblem(req, limits));
        }),
    );
    // One more than allowed, so that a request over the limit always shows more fields than allowed
    // (node:http drops the excess silently) and framingProblem can refuse it.
    this.server.maxHeadersCount = limits.maxHeaders + 1;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, early: Buffer) => this.guarded(socket, () => handler.onUpgrade(req, socket, early, framingProblem(req, limits))));
    // Without a listener Node would just drop CONNECT; answer it, since wakegate is no tunnel.
    this.server.on('connect', (_req, socket: Duplex) =>
      this.guarded(socket, () => {
        socket.on('error', () => socket.destroy());
        sendRawError(socket, new BadRequestError('CONNECT is not supported'));
      }),
    );
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.guarded(socket, () => this.onClientError(err, socket)));
    if (cap !== undefined) this.server.maxConnections = cap;
    this.server.on('drop', () => this.refusals.add('limit'));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, []);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** `fd`: a socket already listening on `address` (passed by systemd) to serve on instead of binding. */
  listen(address: ListenAddress, fd?: number): Promise<BoundAddress> {
    return listenOn(this.server, address, (err: NodeJS.ErrnoException) => {
      // Once libuv's reserve fd is gone too, each failed accept reaches us: one line a second, not one per try.
      if (err.code && FD_ERRORS.has(err.code)) this.refusals.add(err.code);
      else this.log.error({ err }, 'front listener failed');
    }, fd);
  }

  /** A new cap for the connections accepted from now on; those held over it are left to finish. */
  setMaxConnections(cap: number): void {
    this.server.maxConnections = cap;
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts what is left. A
   * kept-alive client is not cut under a request it may be sending: every answer from now on carries
   * `Connection: close`, and an idle connection is closed only after a short grace (keepAliveCloseGrace),
   * by which time an active client has had its answer and its notice. Connections not yet accepted stay in
   * the kernel's queue: under systemd the next gateway accepts them.
   */
  close(graceMs: number): Promise<void> {
    this.closing = true;
    for (const responses of this.sockets.values()) {
      prune(responses);
      for (const res of responses) {
        if (!res.headersSent) res.shouldKeepAlive = false;
        this.closeIdleAfter(res);
      }
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.closeAllConnections();
        for (const socket of this.sockets.keys()) socket.destroy();
      }, graceMs);
      const idle = setTimeout(() => {
        this.closeIdle = true;
        this.server.closeIdleConnections();
      }, Math.min(DEFAULTS.internal.keepAliveCloseGraceMs, graceMs));
      // net's close, not http's: http's also closes every idle connection at once.
      NetServer.prototype.close.call(this.server, () => {
        clearTimeout(timer);
        clearTimeout(idle);
        this.refusals.flush();
        resolve();
      });
    });
  }

  /**
   * A request that does not parse, or arrives too slowly, is the client's problem: it is answered when an
   * answer cannot corrupt a response already under way on the connection, and the connection is closed
   * either way, so nothing after the bad bytes is ever parsed as a request.
   */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable || this.responding(socket)) {
      socket.destroy();
      return;
    }
    const answer = sendRawError(socket, parseFailure(err, this.limits));
    this.log.debug({ code: answer.code, status: answer.status, reason: (err as { reason?: string }).reason ?? err.code }, 'failed to parse request, ignoring');
  }

  /** A throw in a server event handler is an uncaught exception, which ends Node: it costs the connection instead. */
  private guarded(socket: Duplex, handle: () => void): void {
    try {
      handle();
    } catch (err) {
      this.log.error({ err }, 'failed to handle request, ignoring');
      socket.destroy();
    }
  }

  /** By the request's socket: a response queued behind a pipelined one has no socket of its own yet. */
  private track(socket: Socket, res: ServerResponse): void {
    const responses = this.sockets.get(socket);
    if (responses) {
      prune(responses);
      responses.push(res);
    }
    if (this.closing) {
      res.shouldKeepAlive = false;
      this.closeIdleAfter(res);
    }
  }

  /** Only while closing: a response that began with keep-alive before the shutdown leaves an idle connection behind. */
  private closeIdleAfter(res: ServerResponse): void {
    res.once('close', () => {
      if (this.closeIdle) setImmediate(() => this.server.closeIdleConnections());
    });
  }

  private responding(socket: Socket): boolean {
    const responses = this.sockets.get(socket) ?? [];
    prune(responses);
    for (const res of responses) if (res.headersSent) return true;
    return false;
  }
}

/** Keeps, in place, the responses not finished yet: 'finish' (all data handed to the socket) is when node:http emits their 'close'. */
function prune(responses: ServerResponse[]): void {
  let kept = 0;
  for (const res of responses) if (!res.writableFinished && !res.destroyed) responses[kept++] = res;
  responses.length = kept;
}
