import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Lease } from '../activator/app-activator.js';
import { ResponseTimeoutError, SendTimeoutError, UpstreamError, type WakegateError } from '../errors.js';
import { ClientWriter } from './client-writer.js';
import { sendError } from './error-response.js';
import { ResponseTimer, type ResponseTiming } from './response-timer.js';
import type { ExchangeControl, ExchangeHandler } from '../upstream/pool.js';
import { clientHeaders } from '../upstream/response-headers.js';

export interface ProxyOutcome {
  /** The status the client saw; 0 when the client went away before any. */
  readonly status: number;
  readonly error?: WakegateError;
}

/** An upstream error may arrive just before the instance's exit is known; this long we wait to name it right. */
const EXIT_NOTICE_MS = 50;

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Streams one request to the lease's instance and its response back, with backpressure both ways: the
 * upstream pool reads the request body only as fast as the app takes it, and pauses the upstream socket while the
 * client's is full. An instance that sends no head, or stalls its body, for `timing.timeoutMs` ends the
 * exchange: 504 before the head, a cut response after it. A client that takes no data for
 * `timing.sendTimeoutMs` has its response cut and the upstream request aborted, which frees the upstream
 * connection for other clients. Resolves when the exchange is over, never rejects.
 */
export function proxyHttp(app: string, req: IncomingMessage, res: ServerResponse, lease: Lease, headers: string[], timing: ResponseTiming): Promise<ProxyOutcome> {
  return new Promise((resolve) => proxyHttpThen(app, req, res, lease, headers, timing, resolve));
}

/** proxyHttp with a callback: the path of a running app makes no Promise. `resolve` is called once, and must not throw. */
export function proxyHttpThen(
  app: string,
  req: IncomingMessage,
  res: ServerResponse,
  lease: Lease,
  headers: string[],
  timing: ResponseTiming,
  resolve: (outcome: ProxyOutcome) => void,
): void {
  {
    let controller: ExchangeControl | undefined;
    let status = 0;
    let settled = false;
    const timer = new ResponseTimer(timing, (phase) => {
      const error = new ResponseTimeoutError(app, timing.timeoutMs, phase);
      if (phase === 'head') lease.unanswered();
      fail(error);
      controller?.abort(error);
    });
    const settle = (outcome: ProxyOutcome): void => {
      if (settled) return;
      settled = true;
      timer.stop();
      writer?.stop();
      resolve(outcome);
    };
    let writer: ClientWriter | undefined;
    res.on('close', () => {
      if (res.writableFinished) return;
      controller?.abort(new Error('client closed the connection'));
      settle({ status });
    });
    const fail = (error: WakegateError): void => {
      if (!settled && !res.destroyed) {
        const answer = sendError(res, error);
        // After the head, sendError can only cut the response: the client saw `status`, and keeps it.
        if (status === 0) status = answer.status;
      }
      settle({ status, error });
    };
    const handler: ExchangeHandler = {
      onStart(c) {
        controller = c;
        // Settled already: the client left, or the exchange failed before it had a connection.
        if (res.destroyed || settled) return c.abort(new Error('the exchange is over'));
        // Only now is the request on a connection to the instance: time spent waiting before is no sign of a slow app.
        timer.start();
        writer = new ClientWriter(
          res,
          c,
          timing.sendTimeoutMs,
          {
            paused: () => timer.suspend(),
            resumed: () => timer.resume(),
            stalled: () => {
              const error = new SendTimeoutError(app, timing.sendTimeoutMs);
              // A reset rather than a FIN, which would queue behind the data the client does not take: the
              // kernel drops that data at once instead of holding it, for a client that may never read.
              res.socket?.resetAndDestroy();
              fail(error);
              c.abort(error);
            },
          },
          // Pipelined behind another response, this one waits for the socket; the one before is timed instead.
          (start) => (res.socket ? start() : res.once('socket', start)),
        );
      },
      onHead(head) {
        if (settled) return;
        lease.responded();
        timer.headReceived();
        status = head.status;
        res.writeHead(head.status, head.reason, clientHeaders(head));
      },
      onData(chunk) {
        timer.progress();
        writer?.write(chunk);
      },
      onEnd() {
        res.end();
        settle({ status });
      },
      onError(err) {
        if (settled) return;
        const known = lease.failure();
        if (known) return fail(known);
        setTimeout(() => fail(lease.failure() ?? new UpstreamError(app, { cause: err })), EXIT_NOTICE_MS);
      },
    };
    lease.dispatcher.dispatch({ path: req.url!, method: req.method!, headers, body: hasBody(req) ? req : null }, handler);
  }
}
