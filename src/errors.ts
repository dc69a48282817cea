/**
 * Every error wakegate raises on purpose. Each has a stable `code` that logs, tests and the README's
 * table rely on; `status` and `retryAfterSec` are read in exactly one place (front/error-response.ts).
 * This module holds the errors of serving a request; host-errors.ts those of setting up.
 */
import { WakegateError } from './wakegate-error.js';

export { WakegateError };
export * from './host-errors.js';
export * from './dbus-errors.js';
export * from './haproxy-config-errors.js';

/** The request's Host header names no configured app. */
export class NoRouteError extends WakegateError {
  readonly code = 'WG_ERR_NO_ROUTE';
  constructor(readonly host: string) {
    super(`no app serves host ${JSON.stringify(host)}`);
  }
}

/** The request is malformed: no usable Host, a target that is not a path, or framing wakegate will not forward. */
export class BadRequestError extends WakegateError {
  readonly code = 'WG_ERR_BAD_REQUEST';
  constructor(readonly reason: string) {
    super(`bad request: ${reason}`);
  }
}

/** The request target is longer than `limits.maxUrlLength`. */
export class UriTooLongError extends WakegateError {
  readonly code = 'WG_ERR_URI_TOO_LONG';
  constructor(
    readonly length: number,
    readonly limit: number,
  ) {
    super(`request target of ${length} bytes is longer than the ${limit} allowed`);
  }
}

/** The request head is larger than `limits.maxHeaderSize`, or has more than `limits.maxHeaders` fields. */
export class HeadersTooLargeError extends WakegateError {
  readonly code = 'WG_ERR_HEADERS_TOO_LARGE';
  constructor(readonly reason: string) {
    super(`request headers too large: ${reason}`);
  }
}

/** The client did not send its request head within `limits.headersTimeout`, or the whole request within `limits.requestTimeout`. */
export class RequestTimeoutError extends WakegateError {
  readonly code = 'WG_ERR_REQUEST_TIMEOUT';
  constructor() {
    super('the request did not arrive in time');
  }
}

/** The app did not accept the request's connection within `startTimeout`. */
export class StartTimeoutError extends WakegateError {
  readonly code = 'WG_ERR_START_TIMEOUT';
  constructor(
    readonly app: string,
    readonly timeoutMs: number,
  ) {
    super(`app ${app} did not start within ${timeoutMs} ms`);
  }
}

/** More requests are waiting for the app than its `queueLimit` allows. */
export class QueueFullError extends WakegateError {
  readonly code = 'WG_ERR_QUEUE_FULL';
  constructor(
    readonly app: string,
    readonly limit: number,
  ) {
    super(`app ${app} has ${limit} requests waiting already`);
  }
}

/** The app crashed repeatedly and its restart is deferred. */
export class BackoffError extends WakegateError {
  readonly code = 'WG_ERR_BACKOFF';
  constructor(
    readonly app: string,
    readonly retryAfterMs: number,
  ) {
    super(`app ${app} is crash-looping; next start in ${retryAfterMs} ms`);
  }
}

/** The runtime could not start an instance (bad command, missing binary, ...). */
export class StartFailedError extends WakegateError {
  readonly code = 'WG_ERR_START_FAILED';
  constructor(
    readonly app: string,
    options?: ErrorOptions,
  ) {
    super(`failed to start app ${app}${options?.cause instanceof Error ? `: ${options.cause.message}` : ''}`, options);
  }
}

/** The instance that was serving the request exited before answering. */
export class InstanceCrashedError extends WakegateError {
  readonly code = 'WG_ERR_INSTANCE_CRASHED';
  constructor(
    readonly app: string,
    readonly exit: string,
  ) {
    super(`app ${app} exited (${exit}) while serving the request`);
  }
}

/**
 * The instance did not send its response head within `responseTimeout` (`phase: 'head'`), or its response
 * body stalled that long (`phase: 'body'`; the status is already sent, so the response is cut instead).
 */
export class ResponseTimeoutError extends WakegateError {
  readonly code = 'WG_ERR_RESPONSE_TIMEOUT';
  constructor(
    readonly app: string,
    readonly timeoutMs: number,
    readonly phase: 'head' | 'body' = 'head',
  ) {
    super(phase === 'head' ? `app ${app} did not answer within ${timeoutMs} ms` : `app ${app} sent no response data for ${timeoutMs} ms`);
  }
}

/**
 * The client took no response data for `limits.sendTimeout` while some waited for it (a slow or hostile
 * reader): its response is cut, and the upstream request aborted so that the app's connection is freed.
 */
export class SendTimeoutError extends WakegateError {
  readonly code = 'WG_ERR_SEND_TIMEOUT';
  constructor(
    readonly app: string,
    readonly timeoutMs: number,
  ) {
    super(`the client of app ${app} took no response data for ${timeoutMs} ms`);
  }
}

/** The upstream connection failed in a way not explained by an instance exit. */
export class UpstreamError extends WakegateError {
  readonly code = 'WG_ERR_UPSTREAM';
  constructor(
    readonly app: string,
    options?: ErrorOptions,
  ) {
    super(`upstream of app ${app} failed${options?.cause instanceof Error ? `: ${options.cause.message}` : ''}`, options);
  }
}

/** The app is going away (removed by a reload, or the gateway is shutting down). */
export class UnavailableError extends WakegateError {
  readonly code = 'WG_ERR_UNAVAILABLE';
  constructor(
    readonly app: string,
    readonly reason: 'removed' | 'shutdown',
  ) {
    super(`app ${app} is unavailable (${reason})`);
  }
}

/** An admin request without the right bearer token. */
export class UnauthorizedError extends WakegateError {
  readonly code = 'WG_ERR_UNAUTHORIZED';
  constructor() {
    super('a valid bearer token is required');
  }
}

/** An admin request refused because a browser could have been made to send it from another site (no token is set). */
export class ForbiddenError extends WakegateError {
  readonly code = 'WG_ERR_FORBIDDEN';
  constructor(readonly reason: string) {
    super(`refused ${reason}: without admin.token, the admin API takes no request a page on another site could send`);
  }
}

/** An admin path or app name that does not exist. */
export class NotFoundError extends WakegateError {
  readonly code = 'WG_ERR_NOT_FOUND';
  constructor(readonly what: string) {
    super(`${what} not found`);
  }
}

/** An admin path asked with the wrong method. */
export class MethodNotAllowedError extends WakegateError {
  readonly code = 'WG_ERR_METHOD_NOT_ALLOWED';
  constructor(
    readonly method: string,
    readonly allowed: readonly string[],
  ) {
    super(`${method} is not allowed here; use ${allowed.join(' or ')}`);
  }
}

/**
 * A request on the app's wake-ignore list arrived while it is stopped: answered without waking it, with
 * 503 or with the status and body the operator configured.
 */
export class AsleepError extends WakegateError {
  readonly code = 'WG_ERR_ASLEEP';
  constructor(
    readonly app: string,
    readonly retryAfterSec: number | undefined,
    readonly configured?: { readonly status: number; readonly body: string },
  ) {
    super(`app ${app} is stopped, and this request does not wake it`);
  }
}

/**
 * The app cannot start, or its start was failed, because an app it depends on (`dependsOn`) cannot
 * start now or failed to start; `dependency` names it, `retryAfterMs` says when it may start again.
 */
export class DependencyError extends WakegateError {
  readonly code = 'WG_ERR_DEPENDENCY';
  constructor(
    readonly app: string,
    readonly dependency: string,
    /** What is wrong with the dependency, e.g. "failed to start: ...". */
    readonly problem: string,
    readonly retryAfterMs: number,
    options?: ErrorOptions,
  ) {
    super(`app ${app} cannot start: its dependency ${dependency} ${problem}`, options);
  }
}

/**
 * No instance may start now: `capacity.maxRunning` instances exist, or memory is below
 * `capacity.minAvailable`, and none of them can be evicted (each has requests in flight or open connections).
 */
export class CapacityError extends WakegateError {
  readonly code = 'WG_ERR_CAPACITY';
  constructor(
    readonly app: string,
    readonly why: string,
    readonly retryAfterMs: number,
  ) {
    super(`app ${app} cannot start: ${why}`);
  }
}

/**
 * A browser navigation waited `waitingPage.after` for the app's cold start: it is answered with the waiting
 * page (`html`), which reloads itself after `refreshSec`, instead of being held; or, with `failure`, with a
 * page saying that the start failed, which does not reload. Never sent to the app, so the reload that finds
 * the app running is the one request the app sees.
 */
export class WaitingError extends WakegateError {
  readonly code = 'WG_ERR_WAITING';
  readonly retryAfterSec: number;
  readonly refreshSec: number | undefined;
  readonly failure: WakegateError | undefined;
  constructor(
    readonly app: string,
    readonly html: string,
    answer: { readonly retryAfterSec: number; readonly refreshSec?: number; readonly failure?: WakegateError },
  ) {
    const failure = answer.failure;
    super(failure ? `app ${app} failed to start; a browser gets a page saying so (${failure.code})` : `app ${app} is starting; a browser gets the waiting page`);
    this.retryAfterSec = answer.retryAfterSec;
    this.refreshSec = failure ? undefined : answer.refreshSec;
    this.failure = failure;
  }
}
