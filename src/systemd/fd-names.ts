/**
 * The names of the gateway's sockets between it and systemd (FileDescriptorName= of a socket unit, FDNAME=
 * of the fd store, LISTEN_FDNAMES on the way back). systemd refuses ':' in them (it separates
 * LISTEN_FDNAMES), so the issue's `app:<name>` is spelled `app.<name>`; app names hold no '.'.
 */
import { createHash } from 'node:crypto';

/** What a name says about its socket. */
export type FdName =
  /** The front listener (`listen.http`) or the admin listener (`admin.listen`). */
  | { readonly kind: 'front'; readonly which: 'http' | 'admin' }
  /** A socket unit's socket for app `app`: matched to one of its `listen` addresses by where it is bound. */
  | { readonly kind: 'app'; readonly app: string }
  /** The gateway's own fd-store entry for the app's HTTP app socket in runtimeDir. */
  | { readonly kind: 'app-http'; readonly app: string }
  /** The gateway's own fd-store entry for one `listen` socket, `hash` of its configured address. */
  | { readonly kind: 'app-listen'; readonly app: string; readonly hash: string }
  /** No name (`unknown`, or LISTEN_FDNAMES absent), or one the gateway does not know: matched by address alone. */
  | { readonly kind: 'unknown' };

const HASH_CHARS = 12;

export function appHttpFdName(app: string): string {
  return `app.${app}.http`;
}

/**
 * One name per socket, so that FDSTOREREMOVE (which removes every fd of a name) removes just that one.
 * `address` is as the config writes it (`tcp:127.0.0.1:0`): a port-0 socket keeps its name, and so its
 * real port, across restarts.
 */
export function appListenFdName(app: string, address: string): string {
  return `app.${app}.${addressHash(address)}`;
}

export function addressHash(address: string): string {
  return createHash('sha256').update(address).digest('hex').slice(0, HASH_CHARS);
}

export function parseFdName(name: string): FdName {
  if (name === 'http' || name === 'admin') return { kind: 'front', which: name };
  const parts = name.split('.');
  if (parts[0] !== 'app' || !parts[1] || parts.length > 3) return { kind: 'unknown' };
  const app = parts[1];
  if (parts.length === 2) return { kind: 'app', app };
  if (parts[2] === 'http') return { kind: 'app-http', app };
  if (new RegExp(`^[0-9a-f]{${HASH_CHARS}}$`).test(parts[2]!)) return { kind: 'app-listen', app, hash: parts[2]! };
  return { kind: 'unknown' };
}

/** The gateway's own fd-store entries: when one fits nothing any more it is released, not refused. */
export function isOwnStoreName(name: FdName): boolean {
  return name.kind === 'app-http' || name.kind === 'app-listen';
}
