import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Lease } from '../activator/app-activator.js';
import { AsleepError, BadRequestError, WaitingError, WakegateError } from '../errors.js';
import type { WakeIgnore } from '../config/types.js';
import type { Logger } from '../log.js';
import { answerFor, sendError, sendRawError } from './error-response.js';
import { upstreamHeaders, type TrustedProxies } from './forwarded.js';
import { hasBody, proxyHttp, proxyHttpThen, type ProxyOutcome } from './proxy.js';
import { type ResponseTiming } from './response-timer.js';
import { DEFAULTS } from '../defaults.js';
import type { FrontApp } from './front-app.js';
import type { Router } from './router.js';
import { proxyUpgrade } from './upgrade.js';
import { mustNotWake } from './wake-ignore.js';
import { isNavigation } from './navigation.js';
import { holdNavigation, type StartingApp, type WakeHeld } from './navigation-hold.js';

function asleep(app: string, rule: WakeIgnore): AsleepError {
  if (!rule.response) return new AsleepError(app, DEFAULTS.internal.asleepRetryAfterSec);
  return new AsleepError(app, rule.response.retryAfterSec, rule.response);
}

/**
 * What the waiting page needs beyond a FrontApp: the app's start as the process that runs it sees it, and a
 * wake that sends no request. The gateway's own process gives its activators; a worker, its mirrors and a
 * wake asked of the primary (workers/remote-navigations.ts). Absent, browser navigations are held like any request.
 */
export interface Navigations {
  readonly wakeHeld: WakeHeld;
  app(name: string): StartingApp | undefined;
}

export interface FrontOptions {
  /** Read on every request, so that a reload swaps routes without touching the listener. */
  readonly router: () => Router<FrontApp>;
  readonly trusted: () => TrustedProxies;
  readonly log: Logger;
  readonly logRequests: () => boolean;
  /** One finished request (metrics); `app` is '' when no app was routed to. */
  readonly recordRequest?: (app: string, status: number, seconds: number) => void;
  /** `limits.sendTimeout`; the built-in default when absent. */
  readonly sendTimeoutMs?: number;
  /** The waiting page's wake and view of a start (navigation-hold.ts); absent: no waiting page. */
  readonly navigations?: Navigations;
}

/** The response timeout of `app`, which waits for the end of a cold start before it counts (see ResponseTimer). */
function responseTiming(app: FrontApp, sendTimeoutMs: number = DEFAULTS.limits.sendTimeoutMs): ResponseTiming {
  return {
    timeoutMs: app.spec.responseTimeoutMs ?? DEFAULTS.app.responseTimeoutMs,
    sendTimeoutMs,
    // While running (or stopping), the last cold start is this instance's: confirmed at its first answer.
    runningSince: () => (app.state === 'starting' ? undefined : (app.record.lastColdStart?.at ?? 0)),
  };
}

/**
 * Resolves after the bytes already received on the connection are parsed. A request with a body whose
 * framing is broken (a bad chunk size, say) is emitted by node:http before the parser reaches the bad
 * bytes; when they came in the same read, the parser's error has closed the socket by now, and the app is
 * not woken for a request that was never going to arrive whole. A body that breaks later is cut while
 * streaming: the app then sees an incomplete request, never a different one.
 */
function parsedSoFar(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve) => setImmediate(() => resolve(!req.socket.destroyed && !req.socket.writableEnded)));
}

interface ExchangeResult {
  readonly app?: string;
  readonly outcome: ProxyOutcome;
  readonly error?: unknown;
}

/** Routes each request to its app's activator and proxies it once the activator says it may go. */
export class RequestHandler {
  /**
   * Connections on which a request was refused as malformed. Requests pipelined behind it are refused too
   * (the answer closes the connection): if the gateway misread one request's framing, it misreads the next.
   */
  private readonly condemned = new WeakSet<object>();

  constructor(private readonly options: FrontOptions) {}

  /** `rejection`: the listener's verdict on the request's framing (request-checks.ts), answered as such. */
  readonly onRequest = (req: IncomingMessage, res: ServerResponse, rejection?: WakegateError): void => {
    const started = performance.now();
    let app: FrontApp | undefined;
    let lease: Lease | undefined;
    try {
      app = this.admit(req, rejection);
      // The common case, an app already up with a slot free and nothing to wait for: no Promise before the proxy's.
      if (!hasBody(req) && !mustNotWake(app.spec.wakeIgnore, app.state, req) && !this.mayGetPage(req, app)) lease = app.tryAcquire();
    } catch (error) {
      const refusal = this.refused(req, error, app);
      // Answered a microtask later, as an answer after an await always was: only the condemning must be at once.
      queueMicrotask(() => this.answerHttp(req, res, started, refusal));
      return;
    }
    if (lease) return this.proxyNow(app, req, res, lease, started);
    const target = app;
    const starting = this.mayGetPage(req, app) ? this.options.navigations!.app(app.name) : undefined;
    const hold = starting ? () => holdNavigation(starting, target.spec.waitingPage!, this.options.navigations!.wakeHeld, () => res.destroyed) : undefined;
    void this.exchange(req, app, async (routed, held) => {
      if (res.destroyed) return { status: 0 };
      return proxyHttp(routed.name, req, res, held, upstreamHeaders(req, this.options.trusted()), responseTiming(routed, this.options.sendTimeoutMs));
    }, hold)
      .then((result) => this.answerHttp(req, res, started, result))
      .catch((err: unknown) => this.failed(err, () => (res.writableEnded ? undefined : res.headersSent ? res.destroy() : sendError(res, err))));
  };

  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, early: Buffer, rejection?: WakegateError): void => {
    const started = performance.now();
    socket.on('error', () => socket.destroy());
    let app: FrontApp | undefined;
    const result = (() => {
      try {
        app = this.admit(req, rejection);
      } catch (error) {
        return Promise.resolve(this.refused(req, error, app));
      }
      return this.exchange(req, app, async (routed, lease) => {
        if (socket.destroyed) return { status: 0 };
        const headers = upstreamHeaders(req, this.options.trusted());
        return proxyUpgrade(routed.name, req, socket, early, lease, headers, routed.spec.maxConnectionAgeMs, responseTiming(routed, this.options.sendTimeoutMs));
      });
    })();
    result
      .then((r) => this.finish(req, started, r.app, r.error ? { status: sendRawError(socket, r.error).status, error: r.error } : r.outcome))
      .catch((err: unknown) => this.failed(err, () => socket.destroy()));
  };

  /** Proxies on a lease held already; the lease ends with the exchange, before the request is recorded. */
  private proxyNow(app: FrontApp, req: IncomingMessage, res: ServerResponse, lease: Lease, started: number): void {
    let over = false;
    const done = (outcome: ProxyOutcome): void => {
      if (over) return;
      over = true;
      try {
        lease.release();
        this.finish(req, started, app.name, outcome);
      } catch (err) {
        this.failed(err, () => (res.writableEnded ? undefined : res.headersSent ? res.destroy() : sendError(res, err)));
      }
    };
    if (res.destroyed) return done({ status: 0 });
    try {
      proxyHttpThen(app.name, req, res, lease, upstreamHeaders(req, this.options.trusted()), responseTiming(app, this.options.sendTimeoutMs), done);
    } catch (error) {
      // A throw before the exchange settled: a settle after it is ignored, as a Promise's would be.
      if (over) return this.failed(error, () => res.destroy());
      over = true;
      lease.release();
      this.options.log.error({ err: error, app: app.name }, 'failed to proxy request');
      this.answerHttp(req, res, started, { app: app.name, outcome: { status: 0 }, error });
    }
  }

  private answerHttp(req: IncomingMessage, res: ServerResponse, started: number, result: ExchangeResult): void {
    try {
      this.finish(req, started, result.app, result.error ? { status: sendError(res, result.error).status, error: result.error } : result.outcome);
    } catch (err) {
      this.failed(err, () => (res.writableEnded ? undefined : res.headersSent ? res.destroy() : sendError(res, err)));
    }
  }

  /**
   * The last resort of a request: a bug in answering or in the bookkeeping after it (a metric, the log)
   * must cost that one request, never the gateway (an unhandled rejection ends the process). An answer
   * already complete is left alone: the connection may carry the next request.
   */
  private failed(err: unknown, cut: () => unknown): void {
    try {
      this.options.log.error({ err }, 'failed to finish request, ignoring');
      cut();
    } catch {
      // Nothing is left to tell: the connection is gone or the log is broken.
    }
  }

  /**
   * The checks and the route, synchronously: they run while node:http is still parsing the bytes that
   * carried this request, so a refusal condemns the connection before a request pipelined behind it is
   * even emitted. Throws what the client must be answered.
   */
  private admit(req: IncomingMessage, rejection: WakegateError | undefined): FrontApp {
    if (this.condemned.has(req.socket)) throw new BadRequestError('request follows a malformed one on the same connection');
    if (rejection) throw rejection;
    // Origin-form only: absolute-form and authority-form would make the gateway an open proxy.
    if (!req.url?.startsWith('/')) throw new BadRequestError('request target must be a path');
    return this.options.router().resolve(req.headers.host);
  }

  /** A failure before the proxy took over, as a result to answer. */
  private refused(req: IncomingMessage, error: unknown, app: FrontApp | undefined): ExchangeResult {
    if (answerFor(error).close) this.condemned.add(req.socket);
    if (!(error instanceof WakegateError)) this.options.log.error({ err: error, app: app?.name }, 'failed to proxy request');
    return { app: app?.name, outcome: { status: 0 }, error };
  }

  /** A browser navigation to an app not running yet, which may get the waiting page instead of being sent. */
  private mayGetPage(req: IncomingMessage, app: FrontApp): boolean {
    return app.spec.waitingPage !== undefined && app.state !== 'running' && this.options.navigations !== undefined && !hasBody(req) && isNavigation(req);
  }

  /**
   * Wait (for a body to parse, a start, a slot), acquire, run; every failure before the proxy takes over comes back as `error`, never thrown.
   * `hold`, for a navigation that may get the waiting page, runs before anything is sent; it throws the page.
   */
  private async exchange(
    req: IncomingMessage,
    app: FrontApp,
    run: (app: FrontApp, lease: Lease) => Promise<ProxyOutcome>,
    hold?: () => Promise<void>,
  ): Promise<ExchangeResult> {
    try {
      if (hasBody(req) && !(await parsedSoFar(req))) return { app: app.name, outcome: { status: 0 } };
      if (mustNotWake(app.spec.wakeIgnore, app.state, req)) {
        // Counted like every request routed to the app (acquire() counts the others), without waking it.
        app.record.request();
        return { app: app.name, outcome: { status: 0 }, error: asleep(app.name, app.spec.wakeIgnore!) };
      }
      if (hold) {
        // Answered with a page, the navigation is counted here; sent, acquire() counts it.
        await hold().catch((error: unknown) => (app.record.request(), Promise.reject(error)));
        if (req.socket.destroyed) return { app: app.name, outcome: { status: 0 } };
      }
      const lease = await app.acquire();
      try {
        return { app: app.name, outcome: await run(app, lease) };
      } finally {
        lease.release();
      }
    } catch (error) {
      return this.refused(req, error, app);
    }
  }

  private finish(req: IncomingMessage, started: number, app: string | undefined, outcome: { status: number; error?: unknown }): void {
    const code = outcome.error instanceof WakegateError ? outcome.error.code : undefined;
    this.options.recordRequest?.(app ?? '', outcome.status, (performance.now() - started) / 1000);
    // 5xx, and responses cut after their head (the client saw a success status but not the whole answer).
    const failed = outcome.status >= 500 || (outcome.status > 0 && outcome.status < 400);
    if (code && failed && !(outcome.error instanceof AsleepError) && !(outcome.error instanceof WaitingError && !outcome.error.failure)) {
      // An answer the gateway gives by design (backoff, timeouts, a crashed upstream): its code and message
      // (which carries its cause's) say it all, and a stack per 503 would let a flood of them flood the log.
      this.options.log.warn({ app, status: outcome.status, code, error: (outcome.error as WakegateError).message }, 'failed to serve request');
    }
    // Every request, the ones the gateway answered included, so that the request lines add up to the traffic.
    if (this.options.logRequests()) {
      this.options.log.info(
        { app, method: req.method, url: req.url, status: outcome.status, ms: Math.round((performance.now() - started) * 10) / 10, code },
        'request',
      );
    }
  }
}
