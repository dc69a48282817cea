import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Lease } from '../activator/app-activator.js';
import { ResponseTimeoutError, UpstreamError, type WakegateError } from '../errors.js';
import { sendRawError } from './error-response.js';
import { downstreamHeaders } from './forwarded.js';
import type { ProxyOutcome } from './proxy.js';
import { ResponseTimer, type ResponseTiming } from './response-timer.js';

function head(status: number, message: string, headers: Record<string, string | string[] | undefined>): string {
  let text = `HTTP/1.1 ${status} ${message}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
  }
  return `${text}\r\n`;
}

/**
 * Proxies an Upgrade request (WebSocket). On 101 the two sockets are piped together and the lease turns into
 * an upgraded connection, which keeps the app awake until either side closes or `maxAgeMs` passes (so a
 * forgotten tab cannot keep an app up forever). Any other answer is relayed and the connection closed.
 * Until the answer's head arrives, `timing` bounds the wait as for plain requests (504).
 */
export function proxyUpgrade(
  app: string,
  req: IncomingMessage,
  client: Duplex,
  early: Buffer,
  lease: Lease,
  headers: string[],
  maxAgeMs: number,
  timing: ResponseTiming,
): Promise<ProxyOutcome> {
  return new Promise((resolve) => {
    let controller: Dispatcher.DispatchController | undefined;
    let status = 0;
    let piped = false;
    let error: WakegateError | undefined;
    const abort = (): void => controller?.abort(error ?? new Error('client closed the connection'));
    const timer = new ResponseTimer(timing, () => {
      error = new ResponseTimeoutError(app, timing.timeoutMs);
      lease.unanswered();
      status = sendRawError(client, error).status;
      abort();
    });
    client.on('error', () => client.destroy());
    client.on('close', () => {
      timer.stop();
      if (!piped) abort();
      resolve(error ? { status, error } : { status });
    });
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (client.destroyed || error) abort();
      },
      onRequestUpgrade(_c, statusCode, responseHeaders, upstream) {
        timer.stop();
        lease.responded();
        status = statusCode;
        piped = true;
        const close = (): void => {
          client.destroy();
          upstream.destroy();
        };
        lease.upgraded(close);
        const maxAge = setTimeout(close, maxAgeMs);
        upstream.on('error', close);
        upstream.on('close', () => {
          clearTimeout(maxAge);
          client.destroy();
        });
        client.on('close', () => {
          clearTimeout(maxAge);
          upstream.destroy();
        });
        client.write(head(statusCode, 'Switching Protocols', responseHeaders));
        if (early.length) upstream.write(early);
        client.pipe(upstream);
        upstream.pipe(client);
      },
      onResponseStart(_c, statusCode, responseHeaders, statusMessage) {
        if (statusCode < 200 || error) return;
        timer.stop();
        lease.responded();
        status = statusCode;
        // The body arrives decoded, so it is delimited by closing the connection rather than by chunks.
        const relayed = { ...downstreamHeaders(responseHeaders), connection: 'close' };
        client.write(head(statusCode, statusMessage ?? '', relayed));
      },
      onResponseData(c, chunk) {
        if (!client.write(chunk)) {
          c.pause();
          client.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        client.end();
      },
      onResponseError(_c, err) {
        // After a timeout the 504 is on its way out and closes the socket itself.
        if (error) return;
        if (status !== 0) return void client.destroy();
        status = sendRawError(client, lease.failure() ?? new UpstreamError(app, { cause: err })).status;
      },
    };
    timer.start();
    lease.dispatcher.dispatch(
      { path: req.url!, method: req.method!, headers, body: null, upgrade: req.headers.upgrade ?? 'websocket', headersTimeout: 0, bodyTimeout: 0 },
      handler,
    );
  });
}
