/**
 * Checks for single config values. Each takes the raw value and its dotted path, records an issue
 * and returns undefined when the value is wrong, so the caller keeps going and reports every problem.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { ConfigIssue } from '../errors.js';
import type { ListenAddress } from './types.js';
import { parseCpuShare, parseDuration, parseSize, UnitError } from './units.js';

/** A validated mapping, copied onto a null prototype so keys like `__proto__` are plain data. */
export type Mapping = Record<string, unknown>;

export class Issues {
  readonly list: ConfigIssue[] = [];
  get count(): number {
    return this.list.length;
  }
  /** Returns undefined so a check can `return issues.add(...)`. */
  add(path: string, message: string): undefined {
    this.list.push({ path, message });
    return undefined;
  }
}

/** Keys that would make a dotted path ambiguous are written `a["b.c"]`. */
export function keyPath(path: string, key: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return `${path}[${render(key, 80)}]`;
  return path ? `${path}.${key}` : key;
}

export function indexPath(path: string, i: number): string {
  return `${path}[${i}]`;
}

/** JSON-ish and short, for "got ..." in messages. */
export function render(v: unknown, max = 40): string {
  let s: string;
  if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else if (typeof v === 'bigint') s = `${v}n`;
  else if (v === undefined || typeof v === 'function' || typeof v === 'symbol') s = typeof v;
  // A mapping or list in the wrong place may hold secrets (an admin token, env values): describe its shape only.
  else if (Array.isArray(v)) s = v.length === 0 ? '[]' : `an array of ${v.length} item${v.length === 1 ? '' : 's'}`;
  else if (typeof v === 'object' && v !== null) s = Object.keys(v).length === 0 ? '{}' : `a mapping with keys ${Object.keys(v).join(', ')}`;
  else {
    try {
      s = JSON.stringify(v) ?? kind(v);
    } catch {
      s = kind(v); // cyclic (YAML anchors can make cycles) or too deep
    }
  }
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** For values that must not be echoed (secrets), or cannot be rendered usefully. */
export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (isPlainObject(v)) return 'a mapping';
  return /^[aeiou]/.test(typeof v) ? `an ${typeof v}` : `a ${typeof v}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `allowed` undefined: any key (e.g. app names, env names), checked by the caller. */
export function mapping(issues: Issues, v: unknown, path: string, allowed?: readonly string[]): Mapping | undefined {
  if (!isPlainObject(v)) return issues.add(path, `expected a mapping, got ${render(v)}`);
  const out: Mapping = Object.create(null) as Mapping;
  for (const k of Object.keys(v)) {
    if (allowed && !allowed.includes(k)) issues.add(keyPath(path, k), `unknown key; expected one of: ${allowed.join(', ')}`);
    else out[k] = v[k];
  }
  return out;
}

export type Check<T> = (issues: Issues, v: unknown, path: string) => T | undefined;

/** An optional key: absent is fine, present must pass `check`. */
export function field<T>(issues: Issues, m: Mapping, key: string, path: string, check: Check<T>): T | undefined {
  const v = m[key];
  return v === undefined ? undefined : check(issues, v, keyPath(path, key));
}

export function requiredField<T>(issues: Issues, m: Mapping, key: string, path: string, expected: string, check: Check<T>): T | undefined {
  const v = m[key];
  if (v === undefined) return issues.add(keyPath(path, key), `required; expected ${expected}`);
  return check(issues, v, keyPath(path, key));
}

/** Every element must pass `check`; undefined if any does not (each failure is its own issue). */
export function list<T>(issues: Issues, v: unknown, path: string, expected: string, check: Check<T>, nonEmpty = false): T[] | undefined {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0)) return issues.add(path, `expected ${expected}, got ${render(v)}`);
  const before = issues.count;
  const out: T[] = [];
  for (let i = 0; i < v.length; i++) {
    const item = check(issues, v[i] as unknown, indexPath(path, i));
    if (item !== undefined) out.push(item);
  }
  // A copy sized to fit: pushing leaves room for 16 more, kept for as long as the config (per app, per list).
  return issues.count > before ? undefined : out.slice();
}

/** Non-empty and NUL-free: every string here ends up in a path, argv or environment. */
export function string(issues: Issues, v: unknown, path: string, expected = 'a non-empty string'): string | undefined {
  if (typeof v !== 'string' || v === '') return issues.add(path, `expected ${expected}, got ${render(v)}`);
  if (v.includes('\0')) return issues.add(path, 'must not contain NUL characters');
  return v;
}

export function boolean(issues: Issues, v: unknown, path: string): boolean | undefined {
  if (typeof v !== 'boolean') return issues.add(path, `expected true or false, got ${render(v)}`);
  return v;
}

export function integer(issues: Issues, v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    return issues.add(path, `expected an integer ${range}, got ${render(v)}`);
  }
  return v;
}

export function oneOf<T extends string>(issues: Issues, v: unknown, path: string, choices: readonly T[]): T | undefined {
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    return issues.add(path, `expected one of ${choices.join(', ')}, got ${render(v)}`);
  }
  return v as T;
}

export function duration(issues: Issues, v: unknown, path: string): number | undefined {
  return withUnit(issues, v, path, parseDuration);
}

export function size(issues: Issues, v: unknown, path: string): number | undefined {
  return withUnit(issues, v, path, parseSize);
}

export function cpuShare(issues: Issues, v: unknown, path: string): number | undefined {
  return withUnit(issues, v, path, parseCpuShare);
}

function withUnit(issues: Issues, v: unknown, path: string, parse: (v: unknown) => number): number | undefined {
  try {
    return parse(v);
  } catch (err) {
    if (!(err instanceof UnitError)) throw err;
    return issues.add(path, `${err.message}, got ${render(v)}`);
  }
}

/** Relative paths are relative to the config file, not to wherever wakegate was started. */
export function absolutePath(issues: Issues, v: unknown, path: string, baseDir: string): string | undefined {
  const s = string(issues, v, path, 'a path');
  return s === undefined ? undefined : resolve(baseDir, s);
}

// sockaddr_un.sun_path is 108 bytes including the terminating NUL.
const MAX_UNIX_PATH_BYTES = 107;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*$/;
const LISTEN_EXPECTED = 'an address like "127.0.0.1:8080", "[::1]:8080", ":8080" or "unix:/path"';

/** `host:port`, `[v6]:port`, `:port` (all IPv4 interfaces) or `unix:path`. Port 0 lets the OS pick. */
export function listenAddress(issues: Issues, v: unknown, path: string, baseDir: string): ListenAddress | undefined {
  if (typeof v !== 'string') return issues.add(path, `expected ${LISTEN_EXPECTED}, got ${render(v)}`);
  if (v.startsWith('unix:')) {
    const socketPath = absolutePath(issues, v.slice('unix:'.length), path, baseDir);
    if (socketPath === undefined) return undefined;
    const bytes = Buffer.byteLength(socketPath);
    if (bytes > MAX_UNIX_PATH_BYTES) {
      return issues.add(path, `unix socket path ${render(socketPath)} is too long (${bytes} bytes, at most ${MAX_UNIX_PATH_BYTES})`);
    }
    return { kind: 'unix', path: socketPath };
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) {
    const hint = !v.startsWith('[') && v.split(':').length > 2 ? ' (IPv6 addresses need brackets, like "[::1]:8080")' : '';
    return issues.add(path, `expected ${LISTEN_EXPECTED}, got ${render(v)}${hint}`);
  }
  const [, v6, name, portText] = m as unknown as [string, string | undefined, string | undefined, string];
  const port = Number(portText);
  if (port > 65535) return issues.add(path, `port must be from 0 to 65535, got ${render(v)}`);
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) return issues.add(path, `expected an IPv6 address inside [], got ${render(v)}`);
    return { kind: 'tcp', host: v6, port };
  }
  if (name === '' || name === undefined) return { kind: 'tcp', host: '0.0.0.0', port };
  if (isIP(name) !== 4 && !HOSTNAME_RE.test(name)) return issues.add(path, `expected an IPv4 address or host name, got ${render(v)}`);
  return { kind: 'tcp', host: name, port };
}

/**
 * An address of an app's own socket: the `listen.http` syntax, optionally prefixed `tcp:`, with a numeric host
 * (the gateway binds it itself, before any resolver could be trusted to answer the same way at every start).
 */
export function appListenAddress(issues: Issues, v: unknown, path: string, baseDir: string): ListenAddress | undefined {
  const text = typeof v === 'string' && v.startsWith('tcp:') ? v.slice('tcp:'.length) : v;
  if (typeof text === 'string' && text.startsWith('unix:') && text !== v) return issues.add(path, `expected "tcp:host:port" or "unix:/path", got ${render(v)}`);
  const address = listenAddress(issues, text, path, baseDir);
  if (address?.kind === 'tcp' && isIP(address.host) === 0) return issues.add(path, `expected a numeric IPv4 or IPv6 address, got ${render(v)}`);
  return address;
}

/** The text two addresses share exactly when they are the same socket address; port 0 is never shared. */
export function addressKey(address: ListenAddress): string | undefined {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return address.port === 0 ? undefined : `tcp:${address.host.toLowerCase()}:${address.port}`;
}

const HOST_PATTERN_RE = /^(?:\*\.)?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*$/;

/** A Host header pattern: `app.example` or `*.app.example`; returned lower-cased. */
export function hostPattern(issues: Issues, v: unknown, path: string): string | undefined {
  const expected = 'a host name like "app.example" or "*.app.example"';
  if (typeof v !== 'string') return issues.add(path, `expected ${expected}, got ${render(v)}`);
  // Only ASCII is lower-cased: the Kelvin sign (U+212A) would become an ASCII "k" and pass the pattern.
  const host = /^[\x00-\x7f]*$/.test(v) ? v.toLowerCase() : v;
  if (/:\d+$/.test(host)) return issues.add(path, `host names must not include a port, got ${render(v)}`);
  if (host.length > 253 || !HOST_PATTERN_RE.test(host)) return issues.add(path, `expected ${expected}, got ${render(v)}`);
  return host;
}

/** An address or CIDR block whose X-Forwarded-* headers are trusted. Kept as written. */
export function ipOrCidr(issues: Issues, v: unknown, path: string): string | undefined {
  const expected = 'an IP address or CIDR like "10.0.0.0/8"';
  if (typeof v !== 'string') return issues.add(path, `expected ${expected}, got ${render(v)}`);
  const slash = v.indexOf('/');
  const addr = slash === -1 ? v : v.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return issues.add(path, `expected ${expected}, got ${render(v)}`);
  if (slash !== -1) {
    const prefix = v.slice(slash + 1);
    const maxPrefix = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > maxPrefix) {
      return issues.add(path, `CIDR prefix must be from 0 to ${maxPrefix}, got ${render(v)}`);
    }
  }
  return v;
}
