import { BlockList, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still meet. */
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
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/** Decides whose X-Forwarded-* headers are believed: only those of configured proxies. */
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
function connectionTokens(req: IncomingMessage): Set<string> {
  const value = req.headers.connection;
  if (!value) return new Set();
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/**
 * The header list sent upstream, as flat [name, value, ...] pairs in the client's order: hop-by-hop
 * fields removed, `Expect` removed (the front already answered 100-continue), and X-Forwarded-* set —
 * replaced outright unless the peer is a trusted proxy, whose values are extended. Upgrade and
 * Connection for an upgrade request are added by undici from the `upgrade` dispatch option.
 */
export function upstreamHeaders(req: IncomingMessage, trusted: TrustedProxies): string[] {
  const dropped = connectionTokens(req);
  const peer = req.socket.remoteAddress ?? '';
  const trust = trusted.trusts(peer);
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || FORWARDED.has(name) || name === 'expect' || dropped.has(name)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  const prior = trust ? req.headers['x-forwarded-for'] : undefined;
  out.push('x-forwarded-for', prior ? `${prior}, ${peer}` : peer);
  out.push('x-forwarded-proto', (trust && single(req.headers['x-forwarded-proto'])) || 'http');
  out.push('x-forwarded-host', (trust && single(req.headers['x-forwarded-host'])) || req.headers.host || '');
  return out;
}

/** Response headers for the client: hop-by-hop fields removed. */
export function downstreamHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const dropped = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase()),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
