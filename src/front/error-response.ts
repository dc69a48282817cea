import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  AsleepError,
  BackoffError,
  BadRequestError,
  CapacityError,
  DependencyError,
  ForbiddenError,
  HeadersTooLargeError,
  InstanceCrashedError,
  MethodNotAllowedError,
  NoRouteError,
  NotFoundError,
  QueueFullError,
  RequestTimeoutError,
  ResponseTimeoutError,
  SendTimeoutError,
  StartFailedError,
  StartTimeoutError,
  UnauthorizedError,
  UnavailableError,
  UpstreamError,
  UriTooLongError,
  WaitingError,
  WakegateError,
} from '../errors.js';
import { rawHead } from './raw-head.js';

export interface ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly retryAfterSec?: number;
  /** A body to send as it is instead of the JSON error (an operator-configured answer). */
  readonly body?: string;
  /** The body's type when it is neither the JSON error nor a configured text. */
  readonly contentType?: string;
  /** A page for a browser while the app starts: never cached, and reloaded after this many seconds when set. */
  readonly page?: { readonly refreshSec?: number };
  /**
   * The request was malformed or too slow: whatever follows it on the same connection cannot be trusted
   * to be framed as the client meant, so the connection is closed after the answer.
   */
  readonly close?: boolean;
}

/** The one place where errors become HTTP statuses. Anything unknown is a 500 and a gateway bug. */
export function answerFor(err: unknown): ErrorAnswer {
  if (!(err instanceof WakegateError)) return { status: 500, code: 'WG_ERR_INTERNAL', message: 'internal gateway error' };
  const base = { code: err.code, message: err.message };
  if (err instanceof BadRequestError) return { ...base, status: 400, close: true };
  if (err instanceof RequestTimeoutError) return { ...base, status: 408, close: true };
  if (err instanceof UriTooLongError) return { ...base, status: 414, close: true };
  if (err instanceof HeadersTooLargeError) return { ...base, status: 431, close: true };
  if (err instanceof ResponseTimeoutError) return { ...base, status: 504 };
  // Only ever cuts a response whose head is out; the status is what it would be, had it been answerable.
  if (err instanceof SendTimeoutError) return { ...base, status: 408, close: true };
  if (err instanceof NoRouteError || err instanceof NotFoundError) return { ...base, status: 404 };
  if (err instanceof UnauthorizedError) return { ...base, status: 401 };
  if (err instanceof ForbiddenError) return { ...base, status: 403 };
  if (err instanceof MethodNotAllowedError) return { ...base, status: 405 };
  if (err instanceof InstanceCrashedError || err instanceof UpstreamError) return { ...base, status: 502 };
  if (err instanceof AsleepError) {
    const retry = err.retryAfterSec === undefined ? {} : { retryAfterSec: err.retryAfterSec };
    return err.configured ? { ...base, ...retry, status: err.configured.status, body: err.configured.body } : { ...base, ...retry, status: 503 };
  }
  if (err instanceof WaitingError) {
    const page = err.refreshSec === undefined ? {} : { refreshSec: err.refreshSec };
    return { ...base, status: 503, retryAfterSec: err.retryAfterSec, body: err.html, contentType: 'text/html; charset=utf-8', page };
  }
  if (err instanceof BackoffError) return { ...base, status: 503, retryAfterSec: Math.max(1, Math.ceil(err.retryAfterMs / 1000)) };
  if (err instanceof CapacityError) return { ...base, status: 503, retryAfterSec: Math.max(1, Math.ceil(err.retryAfterMs / 1000)) };
  if (err instanceof DependencyError) return { ...base, status: 503, retryAfterSec: Math.max(1, Math.ceil(err.retryAfterMs / 1000)) };
  if (err instanceof StartTimeoutError || err instanceof QueueFullError || err instanceof StartFailedError || err instanceof UnavailableError) {
    return { ...base, status: 503, retryAfterSec: 1 };
  }
  return { ...base, status: 500 };
}

function body(answer: ErrorAnswer): string {
  return answer.body ?? `${JSON.stringify({ error: { code: answer.code, message: answer.message } })}\n`;
}

function contentType(answer: ErrorAnswer): string {
  if (answer.contentType !== undefined) return answer.contentType;
  return answer.body === undefined ? 'application/json' : 'text/plain; charset=utf-8';
}

/** Answers a plain request with the error, or cuts the response if its head is already sent. */
export function sendError(res: ServerResponse, err: unknown): ErrorAnswer {
  const answer = answerFor(err);
  if (res.headersSent) {
    res.destroy();
    return answer;
  }
  const text = body(answer);
  res.writeHead(answer.status, {
    'content-type': contentType(answer),
    'content-length': Buffer.byteLength(text),
    ...(answer.retryAfterSec === undefined ? {} : { 'retry-after': String(answer.retryAfterSec) }),
    ...(answer.page ? { 'cache-control': 'no-store' } : {}),
    ...(answer.page?.refreshSec === undefined ? {} : { refresh: String(answer.page.refreshSec) }),
    ...(err instanceof UnauthorizedError ? { 'www-authenticate': 'Bearer realm="wakegate"' } : {}),
    ...(err instanceof MethodNotAllowedError ? { allow: err.allowed.join(', ') } : {}),
    ...(answer.close ? { connection: 'close' } : {}),
  });
  res.end(text);
  return answer;
}

/** Answers on a raw socket (an upgrade request, whose socket the HTTP server has handed over) and closes it. */
export function sendRawError(socket: Duplex, err: unknown): ErrorAnswer {
  const answer = answerFor(err);
  const text = body(answer);
  if (socket.writable) {
    const head = rawHead(answer.status, STATUS_CODES[answer.status] ?? 'Error', {
      'content-type': contentType(answer),
      'content-length': String(Buffer.byteLength(text)),
      'retry-after': answer.retryAfterSec === undefined ? undefined : String(answer.retryAfterSec),
      connection: 'close',
    });
    // Destroyed once flushed, as node:http does after `connection: close`: the front's sockets allow half-open
    // connections, and a client that never closes its side must not keep one alive.
    socket.end(head + text, () => socket.destroy());
  } else {
    socket.destroy();
  }
  return answer;
}

