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
  /** `.suffix` -> target; a lookup tries the host's own suffixes, longest first, so it costs its labels, not the apps. */
  private readonly wildcards = new Map<string, T>();
  /**
   * Host header as sent -> target, for hosts that resolved: most requests repeat a few Host values, and
   * normalizing one takes two regexes. Misses are not kept, so junk Hosts cannot fill it; variants of a
   * served name can, hence the bound. A reload builds a new router, and so a new cache.
   */
  private readonly cache = new Map<string, T>();

  constructor(routes: Iterable<readonly [hosts: readonly string[], target: T]>) {
    for (const [hosts, target] of routes) {
      for (const host of hosts) {
        // The first app to claim a name keeps it (config validation refuses a name claimed twice).
        const [names, name] = host.startsWith('*.') ? [this.wildcards, host.slice(1)] : [this.exact, host];
        if (!names.has(name)) names.set(name, target);
      }
    }
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
    if (this.wildcards.size > 0) {
      // From the first dot on: a wildcard needs at least one label before its suffix.
      for (let dot = host.indexOf('.', 1); dot > 0; dot = host.indexOf('.', dot + 1)) {
        const target = this.wildcards.get(host.slice(dot));
        if (target !== undefined) return target;
      }
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
