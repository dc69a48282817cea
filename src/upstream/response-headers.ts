import type { ResponseHead } from './response-head.js';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still meet (as forwarded.ts drops them upstream). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The response fields for the client as a flat [name, value, ...] list, as `writeHead` takes it: the app's
 * spelling and order kept, hop-by-hop fields and those its Connection names removed. node:http frames the
 * body toward the client itself (Content-Length kept, else chunked), so Transfer-Encoding goes too.
 */
export function clientHeaders(head: ResponseHead): string[] {
  const { headers, connectionTokens } = head;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (connectionTokens.length > 0 && connectionTokens.includes(lower))) continue;
    out.push(name, headers[i + 1]!);
  }
  return out;
}
