import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AppActivator, Lease } from '../activator/app-activator.js';
import { AsleepError, BadRequestError, WakegateError } from '../errors.js';
import type { WakeIgnore } from '../config/types.js';
import type { Logger } from '../log.js';
import { sendError, sendRawError } from './error-response.js';
import { upstreamHeaders, type TrustedProxies } from './forwarded.js';
import { proxyHttp, type ProxyOutcome } from './proxy.js';
import type { Router } from './router.js';
import { proxyUpgrade } from './upgrade.js';
import { mustNotWake } from './wake-ignore.js';

/** The default Retry-After for a request that was not allowed to wake its app. */
const ASLEEP_RETRY_SEC = 10;

function asleep(app: string, rule: WakeIgnore): AsleepError {
  if (!rule.response) return new AsleepError(app, ASLEEP_RETRY_SEC);
  return new AsleepError(app, rule.response.retryAfterSec, rule.response);
}

export interface FrontOptions {
  /** Read on every request, so that a reload swaps routes without touching the listener. */
  readonly router: () => Router<AppActivator>;
  readonly trusted: () => TrustedProxies;
  readonly log: Logger;
  readonly logRequests: () => boolean;
  /** One finished request (metrics); `app` is '' when no app was routed to. */
  readonly recordRequest?: (app: string, status: number, seconds: number) => void;
}

/** Routes each request to its app's activator and proxies it once the activator says it may go. */
export class RequestHandler {
  constructor(private readonly options: FrontOptions) {}

  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    void this.exchange(req, async (app, lease) => {
      if (res.destroyed) return { status: 0 };
      return proxyHttp(app.name, req, res, lease, upstreamHeaders(req, this.options.trusted()));
    }).then((result) => this.finish(req, started, result.app, result.error ? { status: sendError(res, result.error).status, error: result.error } : result.outcome));
  };

  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, early: Buffer): void => {
    const started = performance.now();
    socket.on('error', () => socket.destroy());
    void this.exchange(req, async (app, lease) => {
      if (socket.destroyed) return { status: 0 };
      return proxyUpgrade(app.name, req, socket, early, lease, upstreamHeaders(req, this.options.trusted()), app.spec.maxConnectionAgeMs);
    }).then((result) => this.finish(req, started, result.app, result.error ? { status: sendRawError(socket, result.error).status, error: result.error } : result.outcome));
  };

  /** Route, acquire, run; every failure before the proxy takes over comes back as `error`, never thrown. */
  private async exchange(
    req: IncomingMessage,
    run: (app: AppActivator, lease: Lease) => Promise<ProxyOutcome>,
  ): Promise<{ app?: string; outcome: ProxyOutcome; error?: unknown }> {
    let app: AppActivator | undefined;
    try {
      // Origin-form only: absolute-form and authority-form would make the gateway an open proxy.
      if (!req.url?.startsWith('/')) throw new BadRequestError('request target must be a path');
      app = this.options.router().resolve(req.headers.host);
      if (mustNotWake(app.spec.wakeIgnore, app.state, req)) return { app: app.name, outcome: { status: 0 }, error: asleep(app.name, app.spec.wakeIgnore!) };
      const lease = await app.acquire();
      try {
        return { app: app.name, outcome: await run(app, lease) };
      } finally {
        lease.release();
      }
    } catch (error) {
      if (!(error instanceof WakegateError)) this.options.log.error({ err: error, app: app?.name }, 'failed to proxy request');
      return { app: app?.name, outcome: { status: 0 }, error };
    }
  }

  private finish(req: IncomingMessage, started: number, app: string | undefined, outcome: { status: number; error?: unknown }): void {
    const code = outcome.error instanceof WakegateError ? outcome.error.code : undefined;
    this.options.recordRequest?.(app ?? '', outcome.status, (performance.now() - started) / 1000);
    if (code && outcome.status >= 500 && !(outcome.error instanceof AsleepError)) {
      this.options.log.warn({ app, status: outcome.status, code, err: outcome.error }, 'failed to serve request');
    } else if (this.options.logRequests()) {
      this.options.log.info(
        { app, method: req.method, url: req.url, status: outcome.status, ms: Math.round((performance.now() - started) * 10) / 10, code },
        'request',
      );
    }
  }
}
