import { HOP_BY_HOP } from '../hop-by-hop.js';
import type { ResponseHead } from './response-head.js';


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
