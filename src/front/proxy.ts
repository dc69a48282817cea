import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Lease } from '../activator/app-activator.js';
import { UpstreamError, type WakegateError } from '../errors.js';
import { sendError } from './error-response.js';
import { downstreamHeaders } from './forwarded.js';

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
 * Streams one request to the lease's instance and its response back, with backpressure both ways: undici
 * reads the request body only as fast as the app takes it, and pauses the upstream socket while the
 * client's is full. Resolves when the exchange is over, never rejects.
 */
export function proxyHttp(app: string, req: IncomingMessage, res: ServerResponse, lease: Lease, headers: string[]): Promise<ProxyOutcome> {
  return new Promise((resolve) => {
    let controller: Dispatcher.DispatchController | undefined;
    let status = 0;
    let settled = false;
    const settle = (outcome: ProxyOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    res.on('close', () => {
      if (res.writableFinished) return;
      controller?.abort(new Error('client closed the connection'));
      settle({ status });
    });
    const fail = (error: WakegateError): void => {
      if (!settled && !res.destroyed) status = sendError(res, error).status;
      settle({ status, error });
    };
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (res.destroyed) c.abort(new Error('client closed the connection'));
      },
      onResponseStart(c, statusCode, responseHeaders, statusMessage) {
        // 1xx (103 Early Hints): not proof of a full answer, and Node already answered 100-continue.
        if (statusCode < 200) return;
        lease.responded();
        status = statusCode;
        res.writeHead(statusCode, statusMessage ?? '', downstreamHeaders(responseHeaders));
      },
      onResponseData(c, chunk) {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        res.end();
        settle({ status });
      },
      onResponseError(_c, err) {
        const known = lease.failure();
        if (known) return fail(known);
        setTimeout(() => fail(lease.failure() ?? new UpstreamError(app, { cause: err })), EXIT_NOTICE_MS);
      },
    };
    lease.dispatcher.dispatch(
      { path: req.url!, method: req.method!, headers, body: hasBody(req) ? req : null, headersTimeout: 0, bodyTimeout: 0 },
      handler,
    );
  });
}
