import type { IncomingMessage } from 'node:http';
import type { Limits } from '../config/types.js';
import { BadRequestError, HeadersTooLargeError, UriTooLongError, type WakegateError } from '../errors.js';

export type RequestLimits = Pick<Limits, 'maxUrlLength' | 'maxHeaders'>;

/**
 * What node:http's strict parser lets through but a gateway must not forward, checked once the head is
 * parsed and before anything is routed or woken. Each of these would make the app see a different request
 * from the one the gateway saw, or is only there to cost us memory:
 * - a target longer than `maxUrlLength`: node:http counts the URL into its header size, so without this a
 *   long URL would only ever get 431, and anything below 16 KiB would go through;
 * - more than `maxHeaders` fields: node:http keeps only its `maxHeadersCount` and drops the rest silently
 *   (the listener sets that count one higher than ours, so an excess always shows here);
 * - more than one Host (RFC 9112 §3.2 says 400): node:http keeps the first, a backend might take the last;
 * - a Transfer-Encoding other than exactly `chunked`: `gzip, chunked` parses, but the gateway drops the
 *   header as hop-by-hop and would hand the app gzip bytes as a plain body; in HTTP/1.0 any
 *   Transfer-Encoding means the framing is faulty (RFC 9112 §6.1).
 */
export function framingProblem(req: IncomingMessage, limits: RequestLimits): WakegateError | undefined {
  const url = req.url ?? '';
  if (url.length > limits.maxUrlLength) return new UriTooLongError(url.length, limits.maxUrlLength);
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.maxHeaders) return new HeadersTooLargeError(`more than ${limits.maxHeaders} header fields`);
  let hosts = 0;
  let codings: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Length first: this runs for every header of every request.
    if (name.length === 4 && name.toLowerCase() === 'host') hosts += 1;
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') codings = codings === undefined ? raw[i + 1]! : `${codings},${raw[i + 1]!}`;
  }
  if (hosts > 1) return new BadRequestError('more than one Host header');
  if (codings !== undefined) {
    if (req.httpVersion === '1.0') return new BadRequestError('Transfer-Encoding in an HTTP/1.0 request');
    const list = codings.split(',').map((c) => c.trim().toLowerCase());
    if (list.length !== 1 || list[0] !== 'chunked') return new BadRequestError('Transfer-Encoding other than chunked');
  }
  return undefined;
}
