import type { UpstreamRequest } from './pool.js';

/** Methods whose requests announce an empty body with `Content-Length: 0`, as undici did. */
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export interface RequestHead {
  /** The whole head, written in one write (latin1: node:http read the client's fields as latin1). */
  readonly text: string;
  /** The body is sent chunked: the client's was (Transfer-Encoding is hop-by-hop and was dropped). */
  readonly chunked: boolean;
}

/**
 * The request head for the app. Method, path and the client's fields were checked by node:http's parser
 * (llhttp, strict) and the gateway's own fields by forwarded.ts, so none holds a CR, LF or NUL and nothing
 * needs escaping. A request without Host gets undici's placeholder; a body without Content-Length goes
 * chunked, as undici sent it.
 */
export function requestHead(request: UpstreamRequest): RequestHead {
  const { headers } = request;
  let text = `${request.method} ${request.path} HTTP/1.1\r\n`;
  let host = false;
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    text += `${name}: ${headers[i + 1]!}\r\n`;
    if (name.length === 4 && name.toLowerCase() === 'host') host = true;
    else if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
  }
  if (!host) text += 'host: app.invalid\r\n';
  const chunked = request.body !== null && !length;
  if (chunked) text += 'transfer-encoding: chunked\r\n';
  else if (request.body === null && !length && PAYLOAD_METHODS.has(request.method)) text += 'content-length: 0\r\n';
  return { text: `${text}\r\n`, chunked };
}
