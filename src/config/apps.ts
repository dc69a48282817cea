/** The `defaults` and `apps` sections: per-app settings, inheritance from defaults, and host ownership. */
import { statSync } from 'node:fs';
import { lookupGroup, lookupUser, MAX_ID, primaryGidOf } from './accounts.js';
import {
  type Check,
  type Issues,
  type Mapping,
  absolutePath,
  duration,
  field,
  integer,
  keyPath,
  kind,
  list,
  mapping,
  oneOf,
  render,
  requiredField,
  size,
  string,
  hostPattern,
} from './checks.js';
import type { AppSpec, RuntimeKind } from './types.js';

const RUNTIMES: readonly RuntimeKind[] = ['process', 'oci', 'auto'];
const PER_APP_KEYS = ['hosts', 'command', 'dir', 'env'];
const TUNABLE_KEYS = ['runtime', 'idleTimeout', 'startTimeout', 'stopTimeout', 'queueLimit', 'maxConnectionAge', 'memory', 'pids', 'cpuWeight', 'user', 'group'];
const APP_KEYS = [...PER_APP_KEYS, ...TUNABLE_KEYS];
const APP_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Below this, runc's own init plus any language runtime is OOM-killed before the app listens.
const MIN_MEMORY_BYTES = 4 * 1024 ** 2;

const BUILTIN = {
  runtime: 'auto',
  idleTimeoutMs: 60_000,
  startTimeoutMs: 10_000,
  stopTimeoutMs: 5_000,
  queueLimit: 1000,
  maxConnectionAgeMs: 3_600_000,
} as const;

/** Settings an app can inherit from `defaults`; undefined means "not set at this level". */
export interface Tunables {
  runtime?: RuntimeKind;
  idleTimeoutMs?: number;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  queueLimit?: number;
  maxConnectionAgeMs?: number;
  memoryBytes?: number;
  pids?: number;
  cpuWeight?: number;
  user?: { uid: number; primaryGid: number };
  gid?: number;
}

export function defaultsSection(issues: Issues, v: unknown, path: string): Tunables | undefined {
  const m = mapping(issues, v, path, [...TUNABLE_KEYS, ...PER_APP_KEYS]);
  if (!m) return undefined;
  for (const k of PER_APP_KEYS) {
    if (m[k] !== undefined) issues.add(keyPath(path, k), 'only allowed per app, not in defaults');
  }
  return tunables(issues, m, path);
}

/** Apps by name; undefined if any app is invalid. */
export function appsSection(
  issues: Issues,
  v: unknown,
  path: string,
  defaults: Tunables,
  baseDir: string,
): Record<string, AppSpec> | undefined {
  const m = mapping(issues, v, path);
  if (!m) return undefined;
  const before = issues.count;
  const apps = Object.create(null) as Record<string, AppSpec>;
  const hostOwners = new Map<string, string>();
  for (const [name, raw] of Object.entries(m)) {
    const spec = app(issues, name, raw, keyPath(path, name), defaults, baseDir, hostOwners);
    if (spec) apps[name] = spec;
  }
  return issues.count > before ? undefined : apps;
}

function app(
  issues: Issues,
  name: string,
  v: unknown,
  path: string,
  defaults: Tunables,
  baseDir: string,
  hostOwners: Map<string, string>,
): AppSpec | undefined {
  const before = issues.count;
  if (!APP_NAME_RE.test(name)) {
    issues.add(path, `app names must be 1-63 lower-case letters, digits, '_' or '-', starting with a letter or digit`);
  }
  const m = mapping(issues, v, path, APP_KEYS);
  if (!m) return undefined;
  const claim: Check<string> = (is, h, p) => {
    const host = hostPattern(is, h, p);
    if (host === undefined) return undefined;
    const owner = hostOwners.get(host);
    if (owner === name) return is.add(p, `host ${render(host)} is listed twice`);
    if (owner !== undefined) return is.add(p, `host ${render(host)} is already claimed by app ${render(owner)}`);
    hostOwners.set(host, name);
    return host;
  };
  const hosts = requiredField(issues, m, 'hosts', path, 'a non-empty array of host names', (is, h, p) =>
    list(is, h, p, 'a non-empty array of host names', claim, true),
  );
  const command = requiredField(issues, m, 'command', path, 'a non-empty array of strings', (is, c, p) =>
    list(is, c, p, 'a non-empty array of strings', string, true),
  );
  const dir = requiredField(issues, m, 'dir', path, 'a directory path', (is, d, p) => directory(is, d, p, baseDir));
  const env = field(issues, m, 'env', path, environment) ?? (Object.create(null) as Record<string, string>);
  const own = tunables(issues, m, path);
  if (issues.count > before || !hosts || !command || !dir) return undefined;

  const user = own.user ?? defaults.user;
  const pick = <K extends keyof Tunables>(k: K): Tunables[K] => own[k] ?? defaults[k];
  const spec: { -readonly [K in keyof AppSpec]: AppSpec[K] } = {
    name,
    hosts,
    command,
    dir,
    env,
    runtime: pick('runtime') ?? BUILTIN.runtime,
    idleTimeoutMs: pick('idleTimeoutMs') ?? BUILTIN.idleTimeoutMs,
    startTimeoutMs: pick('startTimeoutMs') ?? BUILTIN.startTimeoutMs,
    stopTimeoutMs: pick('stopTimeoutMs') ?? BUILTIN.stopTimeoutMs,
    queueLimit: pick('queueLimit') ?? BUILTIN.queueLimit,
    maxConnectionAgeMs: pick('maxConnectionAgeMs') ?? BUILTIN.maxConnectionAgeMs,
  };
  // Unset ids and limits are left out rather than present-but-undefined, so `'pids' in spec` means set.
  const gid = pick('gid') ?? user?.primaryGid;
  const [memoryBytes, pids, cpuWeight] = [pick('memoryBytes'), pick('pids'), pick('cpuWeight')];
  if (user !== undefined) spec.uid = user.uid;
  if (gid !== undefined) spec.gid = gid;
  if (memoryBytes !== undefined) spec.memoryBytes = memoryBytes;
  if (pids !== undefined) spec.pids = pids;
  if (cpuWeight !== undefined) spec.cpuWeight = cpuWeight;
  return spec;
}

function tunables(issues: Issues, m: Mapping, path: string): Tunables {
  return {
    runtime: field(issues, m, 'runtime', path, (is, v, p) => oneOf(is, v, p, RUNTIMES)),
    idleTimeoutMs: field(issues, m, 'idleTimeout', path, duration),
    startTimeoutMs: field(issues, m, 'startTimeout', path, duration),
    stopTimeoutMs: field(issues, m, 'stopTimeout', path, duration),
    queueLimit: field(issues, m, 'queueLimit', path, (is, v, p) => integer(is, v, p, 1)),
    maxConnectionAgeMs: field(issues, m, 'maxConnectionAge', path, duration),
    memoryBytes: field(issues, m, 'memory', path, memory),
    pids: field(issues, m, 'pids', path, (is, v, p) => integer(is, v, p, 1)),
    cpuWeight: field(issues, m, 'cpuWeight', path, (is, v, p) => integer(is, v, p, 1, 10_000)),
    user: field(issues, m, 'user', path, user),
    gid: field(issues, m, 'group', path, group),
  };
}

function memory(issues: Issues, v: unknown, path: string): number | undefined {
  const bytes = size(issues, v, path);
  if (bytes !== undefined && bytes < MIN_MEMORY_BYTES) return issues.add(path, `must be at least 4Mi, got ${render(v)}`);
  return bytes;
}

function directory(issues: Issues, v: unknown, path: string, baseDir: string): string | undefined {
  const dir = absolutePath(issues, v, path, baseDir);
  if (dir === undefined) return undefined;
  try {
    const stat = statSync(dir, { throwIfNoEntry: false });
    if (!stat) return issues.add(path, `directory ${dir} does not exist`);
    if (!stat.isDirectory()) return issues.add(path, `${dir} is not a directory`);
  } catch (err) {
    return issues.add(path, `cannot stat ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return dir;
}

function environment(issues: Issues, v: unknown, path: string): Record<string, string> | undefined {
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
function user(issues: Issues, v: unknown, path: string): Tunables['user'] {
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

function group(issues: Issues, v: unknown, path: string): number | undefined {
  if (typeof v === 'string' && /^\d+$/.test(v)) v = Number(v);
  if (typeof v === 'number') return integer(issues, v, path, 0, MAX_ID);
  const name = string(issues, v, path, 'a group name or gid');
  if (name === undefined) return undefined;
  const gid = lookupGroup(name);
  return typeof gid === 'string' ? issues.add(path, gid) : gid;
}
