/** Checks of single app values that touch the system: directories, accounts, environments. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lookupGroup, lookupUser, MAX_ID, primaryGidOf } from './accounts.js';
import { type Issues, absolutePath, appListenAddress, duration, field, integer, keyPath, kind, list, mapping, render, size, string } from './checks.js';
import type { AppListen, WakeIgnore } from './types.js';
import { parseFileMode, UnitError } from './units.js';
import { DEFAULTS } from '../defaults.js';

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Below this, runc's own init plus any language runtime is OOM-killed before the app listens.
const MIN_MEMORY_BYTES = 4 * 1024 ** 2;

export interface UserId {
  uid: number;
  primaryGid: number;
}

export function memory(issues: Issues, v: unknown, path: string): number | undefined {
  const bytes = size(issues, v, path);
  if (bytes !== undefined && bytes < MIN_MEMORY_BYTES) return issues.add(path, `must be at least 4Mi, got ${render(v)}`);
  return bytes;
}

/**
 * Directories checked in one load (its Issues), with what was wrong ('' for nothing): thousands of apps
 * share a few directories, and each then costs a lookup instead of a stat, and shares one string.
 */
const checkedDirs = new WeakMap<Issues, Map<string, { readonly dir: string; readonly problem: string }>>();

export function directory(issues: Issues, v: unknown, path: string, baseDir: string): string | undefined {
  const dir = absolutePath(issues, v, path, baseDir);
  if (dir === undefined) return undefined;
  let checked = checkedDirs.get(issues);
  if (!checked) checkedDirs.set(issues, (checked = new Map()));
  let known = checked.get(dir);
  if (!known) checked.set(dir, (known = { dir, problem: directoryProblem(dir) }));
  return known.problem === '' ? known.dir : issues.add(path, known.problem);
}

function directoryProblem(dir: string): string {
  try {
    const stat = statSync(dir, { throwIfNoEntry: false });
    if (!stat) return `directory ${dir} does not exist`;
    if (!stat.isDirectory()) return `${dir} is not a directory`;
  } catch (err) {
    return `cannot stat ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  return '';
}

/** An OCI bundle: a directory with a config.json. */
export function bundleDir(issues: Issues, v: unknown, path: string, baseDir: string): string | undefined {
  const dir = directory(issues, v, path, baseDir);
  if (dir !== undefined && !existsSync(join(dir, 'config.json'))) return issues.add(path, `${dir} has no config.json, so it is not an OCI bundle`);
  return dir;
}

export function environment(issues: Issues, v: unknown, path: string): Record<string, string> | undefined {
  const m = mapping(issues, v, path);
  if (!m) return undefined;
  const before = issues.count;
  const env = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(m)) {
    const p = keyPath(path, name);
    if (!ENV_NAME_RE.test(name)) issues.add(p, 'environment variable names must match [A-Za-z_][A-Za-z0-9_]*');
    else if (name.startsWith('LISTEN_')) issues.add(p, 'LISTEN_* variables are reserved for socket activation');
    // Values are never echoed back: environments carry secrets.
    if (typeof value === 'number' && !Number.isFinite(value)) issues.add(p, `expected a finite number, got ${value}`);
    else if (typeof value === 'string' && value.includes('\0')) issues.add(p, 'must not contain NUL characters');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') env[name] = String(value);
    else issues.add(p, `expected a string, number or boolean, got ${kind(value)}`);
  }
  return issues.count > before ? undefined : env;
}

/** A uid or a user name, with the primary group that applies when no group is configured. */
export function user(issues: Issues, v: unknown, path: string): UserId | undefined {
  if (typeof v === 'string' && /^\d+$/.test(v)) v = Number(v);
  if (typeof v === 'number') {
    const uid = integer(issues, v, path, 0, MAX_ID);
    return uid === undefined ? undefined : { uid, primaryGid: primaryGidOf(uid) };
  }
  const name = string(issues, v, path, 'a user name or uid');
  if (name === undefined) return undefined;
  const account = lookupUser(name);
  return typeof account === 'string' ? issues.add(path, account) : account;
}

export function group(issues: Issues, v: unknown, path: string): number | undefined {
  if (typeof v === 'string' && /^\d+$/.test(v)) v = Number(v);
  if (typeof v === 'number') return integer(issues, v, path, 0, MAX_ID);
  const name = string(issues, v, path, 'a group name or gid');
  if (name === undefined) return undefined;
  const gid = lookupGroup(name);
  return typeof gid === 'string' ? issues.add(path, gid) : gid;
}

/** `wakeIgnore: { paths, userAgents, response: { status, body, retryAfter } }`. */
export function wakeIgnore(issues: Issues, v: unknown, path: string): WakeIgnore | undefined {
  const m = mapping(issues, v, path, ['paths', 'userAgents', 'response']);
  if (!m) return undefined;
  const before = issues.count;
  const paths = field(issues, m, 'paths', path, (is, p, at) =>
    list(is, p, at, 'an array of paths', (i, x, xp) => {
      const s = string(i, x, xp, 'a path starting with /');
      return s === undefined || s.startsWith('/') ? s : i.add(xp, `expected a path starting with /, got ${render(s)}`);
    }),
  );
  const agents = field(issues, m, 'userAgents', path, (is, a, at) => list(is, a, at, 'an array of User-Agent substrings', string));
  const response = field(issues, m, 'response', path, (is, r, at) => {
    const rm = mapping(is, r, at, ['status', 'body', 'retryAfter']);
    if (!rm) return undefined;
    const status = field(is, rm, 'status', at, (i, x, xp) => integer(i, x, xp, 200, 599)) ?? 503;
    const body = field(is, rm, 'body', at, (i, x, xp) => (typeof x === 'string' ? x : i.add(xp, `expected a string, got ${kind(x)}`))) ?? '';
    const retryAfterMs = field(is, rm, 'retryAfter', at, duration);
    return retryAfterMs === undefined ? { status, body } : { status, body, retryAfterSec: Math.ceil(retryAfterMs / 1000) };
  });
  if (issues.count > before) return undefined;
  if (!paths?.length && !agents?.length) return issues.add(path, 'needs at least one of paths or userAgents');
  return {
    paths: paths ?? [],
    userAgents: (agents ?? []).map((a) => a.toLowerCase()),
    ...(response && { response }),
  };
}

const FD_NAME_RE = /^[A-Za-z0-9_.-]{1,255}$/;

/** One `listen` entry: an address string, or `{ address, name, mode, group }`; `name` defaults to the app's. */
export function appListen(issues: Issues, v: unknown, path: string, app: string, baseDir: string): AppListen | undefined {
  if (typeof v === 'string') {
    const address = appListenAddress(issues, v, path, baseDir);
    return address && { address, name: app, ...(address.kind === 'unix' && { mode: DEFAULT_SOCKET_MODE }) };
  }
  const m = mapping(issues, v, path, ['address', 'name', 'mode', 'group']);
  if (!m) return undefined;
  if (m.address === undefined) return issues.add(keyPath(path, 'address'), 'required; expected an address like "tcp:127.0.0.1:7000" or "unix:/path"');
  const before = issues.count;
  const address = appListenAddress(issues, m.address, keyPath(path, 'address'), baseDir);
  const name = field(issues, m, 'name', path, (is, n, p) =>
    typeof n === 'string' && FD_NAME_RE.test(n) ? n : is.add(p, `expected 1-255 letters, digits, '_', '.' or '-' (a LISTEN_FDNAMES entry), got ${render(n)}`),
  );
  const mode = field(issues, m, 'mode', path, fileMode);
  const gid = field(issues, m, 'group', path, group);
  if (address?.kind === 'tcp') {
    for (const key of ['mode', 'group']) if (m[key] !== undefined) issues.add(keyPath(path, key), 'only for a unix: socket; a TCP socket has no file whose permissions could be set');
  } else if (m.group !== undefined && m.mode === undefined) {
    issues.add(keyPath(path, 'group'), `needs a mode that lets the group connect, such as mode: "0660" (the default ${DEFAULTS.listenSocket.mode} lets only the gateway's uid in)`);
  }
  if (!address || issues.count > before) return undefined;
  if (address.kind === 'tcp') return { address, name: name ?? app };
  return { address, name: name ?? app, mode: mode ?? DEFAULT_SOCKET_MODE, ...(gid !== undefined && { group: gid }) };
}

const DEFAULT_SOCKET_MODE = parseFileMode(DEFAULTS.listenSocket.mode);

function fileMode(issues: Issues, v: unknown, path: string): number | undefined {
  try {
    return parseFileMode(v);
  } catch (err) {
    if (err instanceof UnitError) return issues.add(path, `${err.message}, got ${render(v)}`);
    throw err;
  }
}
