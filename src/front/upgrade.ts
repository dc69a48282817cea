import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Lease } from '../activator/app-activator.js';
import { ResponseTimeoutError, SendTimeoutError, UpstreamError, type WakegateError } from '../errors.js';
import { ClientWriter, type WriterEvents } from './client-writer.js';
import { sendRawError } from './error-response.js';
import { downstreamHeaders } from './forwarded.js';
import type { ProxyOutcome } from './proxy.js';
import { rawHead } from './raw-head.js';
import { ResponseTimer, type ResponseTiming } from './response-timer.js';

/**
 * Proxies an Upgrade request (WebSocket). On 101 the two sockets are piped together and the lease turns into
 * an upgraded connection, which keeps the app awake until either side closes or `maxAgeMs` passes (so a
 * forgotten tab cannot keep an app up forever). Any other answer is relayed and the connection closed.
 * Until the answer's head arrives, `timing` bounds the wait as for plain requests (504). Toward the client,
 * both a relayed answer and the upgraded stream are cut when the client takes no data for
 * `timing.sendTimeoutMs` while some waits for it; an upgraded connection with nothing to send is never cut
 * for it (a quiet WebSocket is normal), and the client-to-app direction is the app's to pace.
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
    let writer: ClientWriter | undefined;
    const abort = (): void => controller?.abort(error ?? new Error('client closed the connection'));
    /** Backpressure toward the client; a stall ends with `cut`. */
    const relay = (cut: () => void): WriterEvents => ({
      paused: () => {},
      resumed: () => {},
      stalled: () => {
        error = new SendTimeoutError(app, timing.sendTimeoutMs);
        // A reset, as for plain responses (proxy.ts): what the client does not take is dropped, not kept.
        if (client instanceof Socket) client.resetAndDestroy();
        cut();
      },
    });
    const timer = new ResponseTimer(timing, () => {
      error = new ResponseTimeoutError(app, timing.timeoutMs);
      lease.unanswered();
      status = sendRawError(client, error).status;
      abort();
    });
    client.on('error', () => client.destroy());
    client.on('close', () => {
      timer.stop();
      writer?.stop();
      if (!piped) abort();
      resolve(error ? { status, error } : { status });
    });
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (client.destroyed || error) return abort();
        // From the connection to the instance on, as for plain requests (response-timer.ts).
        timer.start();
        writer = new ClientWriter(client, c, timing.sendTimeoutMs, relay(() => {
          client.destroy();
          abort();
        }));
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
        client.write(rawHead(statusCode, 'Switching Protocols', responseHeaders));
        if (early.length) upstream.write(early);
        client.pipe(upstream);
        writer?.stop();
        writer = new ClientWriter(client, upstream, timing.sendTimeoutMs, relay(close));
        const toClient = writer;
        upstream.on('data', (chunk: Buffer) => toClient.write(chunk));
        upstream.on('end', () => client.end());
        upstream.resume();
      },
      onResponseStart(_c, statusCode, responseHeaders, statusMessage) {
        if (statusCode < 200 || error) return;
        timer.stop();
        lease.responded();
        status = statusCode;
        // The body arrives decoded, so it is delimited by closing the connection rather than by chunks.
        const relayed = { ...downstreamHeaders(responseHeaders), connection: 'close' };
        client.write(rawHead(statusCode, statusMessage ?? '', relayed));
      },
      onResponseData(_c, chunk) {
        writer?.write(chunk);
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
    lease.dispatcher.upgrades.dispatch(
      { path: req.url!, method: req.method!, headers, body: null, upgrade: req.headers.upgrade ?? 'websocket', headersTimeout: 0, bodyTimeout: 0 },
      handler,
    );
  });
}
