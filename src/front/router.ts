import { DEFAULTS } from '../defaults.js';
import { BadRequestError, NoRouteError } from '../errors.js';

/** RFC 3986 reg-name characters we accept in a Host; anything else is a malformed request, not a miss. */
const HOST_NAME = /^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$/;
const HOST_WITH_PORT = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/;

/**
 * Maps a Host header to an app: exact names first, then `*.suffix` wildcards, longest suffix first
 * (`*.a.example` wins over `*.example`). A wildcard matches one or more labels, never the bare suffix.
 * Immutable: a reload builds a new router and swaps it in.
 */
export class Router<T> {
  private readonly exact = new Map<string, T>();
  private readonly wildcards: Array<readonly [suffix: string, target: T]> = [];
  /**
   * Host header as sent -> target, for hosts that resolved: most requests repeat a few Host values, and
   * normalizing one takes two regexes. Misses are not kept, so junk Hosts cannot fill it; variants of a
   * served name can, hence the bound. A reload builds a new router, and so a new cache.
   */
  private readonly cache = new Map<string, T>();

  constructor(routes: Iterable<readonly [hosts: readonly string[], target: T]>) {
    for (const [hosts, target] of routes) {
      for (const host of hosts) {
        if (host.startsWith('*.')) this.wildcards.push([host.slice(1), target]);
        else this.exact.set(host, target);
      }
    }
    this.wildcards.sort((a, b) => b[0].length - a[0].length);
  }

  /** Throws BadRequestError for a missing or malformed Host, NoRouteError for a host nobody serves. */
  resolve(hostHeader: string | undefined): T {
    const cached = hostHeader === undefined ? undefined : this.cache.get(hostHeader);
    if (cached !== undefined) return cached;
    const target = this.lookup(normalizeHost(hostHeader));
    if (this.cache.size >= DEFAULTS.internal.hostCacheSize) this.cache.clear();
    this.cache.set(hostHeader!, target);
    return target;
  }

  private lookup(host: string): T {
    const hit = this.exact.get(host);
    if (hit !== undefined) return hit;
    for (const [suffix, target] of this.wildcards) {
      if (host.length > suffix.length && host.endsWith(suffix)) return target;
    }
    throw new NoRouteError(host);
  }
}

/** Lower-cases, drops the port and a trailing dot; rejects what cannot be a host name. */
export function normalizeHost(hostHeader: string | undefined): string {
  if (hostHeader === undefined || hostHeader === '') throw new BadRequestError('missing Host header');
  const match = HOST_WITH_PORT.exec(hostHeader.trim().toLowerCase());
  if (!match || (match[2] !== undefined && Number(match[2]) > 65535)) throw new BadRequestError('malformed Host header');
  const name = match[1]!.endsWith('.') ? match[1]!.slice(0, -1) : match[1]!;
  if (!name.startsWith('[') && (!HOST_NAME.test(name) || name.length > 253)) throw new BadRequestError('malformed Host header');
  return name;
}
