import { BlockList, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { HOP_BY_HOP } from '../hop-by-hop.js';

/**
 * Fields that tell an app who the client is. The gateway sets each itself. A name counts in any case and
 * with `_` for `-`: CGI-style stacks (PHP, WSGI, Rack) map `X_Forwarded_For` and `X-Forwarded-For` alike to
 * `HTTP_X_FORWARDED_FOR`, so a client's underscore spelling would pose as the gateway's value.
 */
const FORWARDED = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip']);
/** Every request field never passed on as the client sent it, in one lookup: hop-by-hop, forwarding, Expect. */
const NOT_FORWARDED: ReadonlySet<string> = new Set([...HOP_BY_HOP, ...FORWARDED, 'expect']);
const NO_TOKENS: ReadonlySet<string> = new Set();
/** RFC 9110 token characters: a Forwarded value made only of them needs no quotes (RFC 7239 §4). */
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Decides whose forwarding headers (Forwarded, X-Forwarded-*, X-Real-IP) are believed: only those of configured proxies. */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, prefix] = entry.split('/');
      const type = isIPv6(address!) ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.list.addAddress(address!, type);
      else this.list.addSubnet(address!, Number(prefix), type);
    }
    this.empty = entries.length === 0;
  }

  trusts(address: string | undefined): boolean {
    if (this.empty || !address) return false;
    const mapped = address.startsWith('::ffff:') ? address.slice(7) : address;
    return this.list.check(mapped, isIPv6(mapped) ? 'ipv6' : 'ipv4');
  }
}

/** Header names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(value: string | undefined): ReadonlySet<string> {
  // Most requests carry none, or just keep-alive (hop-by-hop already): no set to build.
  if (!value || HOP_BY_HOP.has(value.toLowerCase())) return NO_TOKENS;
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/**
 * The header list sent upstream, as flat [name, value, ...] pairs in the client's order: hop-by-hop
 * fields removed, `Expect` removed (the front already answered 100-continue), and the forwarding fields
 * set by the gateway. A client's own are dropped in every spelling; a trusted proxy's are believed only
 * in their standard spelling, and extended. Upgrade and Connection for an upgrade request are added by
 * undici from the `upgrade` dispatch option.
 */
export function upstreamHeaders(req: IncomingMessage, trusted: TrustedProxies): string[] {
  const dropped = connectionTokens(req.headers.connection);
  const peer = req.socket.remoteAddress ?? '';
  const trust = trusted.trusts(peer);
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_FORWARDED.has(name) || (name.includes('_') && FORWARDED.has(name.replaceAll('_', '-'))) || dropped.has(name)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  // node:http keys only exact names, so an underscore spelling never reaches these reads.
  const from = (name: string): string | undefined => (trust ? single(req.headers[name]) || undefined : undefined);
  const host = req.headers.host ?? '';
  const priorFor = from('x-forwarded-for');
  out.push('x-forwarded-for', priorFor ? `${priorFor}, ${peer}` : peer);
  out.push('x-forwarded-proto', from('x-forwarded-proto') ?? 'http');
  out.push('x-forwarded-host', from('x-forwarded-host') ?? host);
  out.push('x-real-ip', from('x-real-ip') ?? peer);
  const hop = forwardedHop(peer, host);
  const priorForwarded = from('forwarded');
  out.push('forwarded', priorForwarded ? `${priorForwarded}, ${hop}` : hop);
  return out;
}

/** The last hop element built: a connection's requests, and most traffic, repeat the same peer and host. */
let lastHop = { peer: '', host: '', hop: '' };

/** This hop's element: who connected to the gateway, over what, asking for which host (RFC 7239 §5). */
function forwardedHop(peer: string, host: string): string {
  if (lastHop.hop !== '' && lastHop.peer === peer && lastHop.host === host) return lastHop.hop;
  const hop = `for=${forwardedValue(peer || 'unknown')};proto=http${host ? `;host=${forwardedValue(host)}` : ''}`;
  lastHop = { peer, host, hop };
  return hop;
}

/** An RFC 7239 value: IPv6 bracketed and quoted (`"[2001:db8::1]"`), anything else quoted unless it is a token. */
export function forwardedValue(value: string): string {
  // isIPv6 is a long regex: only a value with a colon can be an IPv6 address.
  const text = value.includes(':') && isIPv6(value) ? `[${value}]` : value;
  return TOKEN_RE.test(text) ? text : `"${text.replace(/["\\]/g, '\\$&')}"`;
}

/** Response headers for the client: hop-by-hop fields removed. */
export function downstreamHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const connection = headers.connection;
  const dropped = connectionTokens(Array.isArray(connection) ? connection.join(',') : connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
