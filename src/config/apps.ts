/** The `defaults` and `apps` sections: per-app settings, inheritance from defaults, and host ownership. */
import { checkDependencies, dependsOnList } from './depends-on.js';
import { appListen, bundleDir, directory, environment, group, memory, user, wakeIgnore, type UserId } from './app-values.js';
import {
  type Check,
  type Issues,
  cpuShare,
  type Mapping,
  duration,
  field,
  integer,
  keyPath,
  list,
  mapping,
  oneOf,
  render,
  requiredField,
  string,
  hostPattern,
  addressKey,
} from './checks.js';
import type { AppListen, AppSpec, RuntimeKind, WaitingPageSpec, WakeIgnore } from './types.js';
import { waitingPage } from './waiting-page-value.js';
import { DEFAULTS } from '../defaults.js';
import { parseCpuShare } from './units.js';

const RUNTIMES: readonly RuntimeKind[] = ['process', 'oci', 'systemd', 'nspawn', 'auto'];
const PER_APP_KEYS = ['hosts', 'listen', 'command', 'dir', 'env', 'bundle', 'dependsOn'];
const TUNABLE_KEYS = ['runtime', 'idleTimeout', 'startTimeout', 'stopTimeout', 'queueLimit', 'concurrency', 'maxConnectionAge', 'responseTimeout', 'memory', 'pids', 'cpuWeight', 'user', 'group', 'wakeIgnore', 'backlog', 'busyCpu', 'waitingPage', 'freezeAfter'];
const APP_KEYS = [...PER_APP_KEYS, ...TUNABLE_KEYS];
export const NO_OCI_RUNTIME = 'needs an OCI runtime (runc or crun) on PATH or set in oci.runtime; install one with: apt-get install runc';
export const NO_NSPAWN = 'needs systemd-nspawn on PATH; install it with: apt-get install systemd-container';
const APP_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const BUILTIN = DEFAULTS.app;
// Shared by every app that does not set its own: frozen, so one object serves 100,000 specs.
const NO_ENV: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);
const NO_LISTEN: readonly AppListen[] = Object.freeze([]);
const DEFAULT_WAITING_PAGE: WaitingPageSpec = Object.freeze({ afterMs: BUILTIN.waitingPage.afterMs });

/** Settings an app can inherit from `defaults`; undefined means "not set at this level". */
export interface Tunables {
  runtime?: RuntimeKind;
  idleTimeoutMs?: number;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  queueLimit?: number;
  concurrency?: number;
  maxConnectionAgeMs?: number;
  responseTimeoutMs?: number;
  memoryBytes?: number;
  pids?: number;
  cpuWeight?: number;
  user?: UserId;
  wakeIgnore?: WakeIgnore;
  gid?: number;
  backlog?: number;
  busyCpu?: number;
  waitingPage?: WaitingPageSpec | false;
  freezeAfterMs?: number;
}

/** Who holds each socket address so far (`app "db"`, `listen.http`), so that two holders are one config error. */
export type AddressOwners = Map<string, string>;

export function defaultsSection(issues: Issues, v: unknown, path: string, baseDir: string): Tunables | undefined {
  const m = mapping(issues, v, path, [...TUNABLE_KEYS, ...PER_APP_KEYS]);
  if (!m) return undefined;
  for (const k of PER_APP_KEYS) {
    if (m[k] !== undefined) issues.add(keyPath(path, k), 'only allowed per app, not in defaults');
  }
  return tunables(issues, m, path, baseDir);
}

/** Apps by name; undefined if any app is invalid. */
export function appsSection(
  issues: Issues,
  v: unknown,
  path: string,
  defaults: Tunables,
  baseDir: string,
  ociRuntime: string | undefined,
  addressOwners: AddressOwners = new Map(),
  nspawnBinary?: string,
): Record<string, AppSpec> | undefined {
  const m = mapping(issues, v, path);
  if (!m) return undefined;
  const before = issues.count;
  const apps = Object.create(null) as Record<string, AppSpec>;
  const hostOwners = new Map<string, string>();
  const strings = new Map<string, string>();
  for (const [name, raw] of Object.entries(m)) {
    const spec = app(issues, name, raw, keyPath(path, name), defaults, baseDir, { hosts: hostOwners, addresses: addressOwners, strings }, ociRuntime, nspawnBinary);
    if (spec) apps[name] = spec;
  }
  checkDependencies(issues, path, Object.keys(m), new Map(Object.values(apps).map((a) => [a.name, a.dependsOn ?? []])));
  return issues.count > before ? undefined : apps;
}

function app(
  issues: Issues,
  name: string,
  v: unknown,
  path: string,
  defaults: Tunables,
  baseDir: string,
  owners: { readonly hosts: Map<string, string>; readonly addresses: AddressOwners; readonly strings: Map<string, string> },
  ociRuntime: string | undefined,
  nspawnBinary: string | undefined,
): AppSpec | undefined {
  const hostOwners = owners.hosts;
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
  // An app with its own sockets may do without HTTP routing; an app with neither could never be reached.
  const hosts =
    m.hosts === undefined && m.listen !== undefined
      ? []
      : requiredField(issues, m, 'hosts', path, 'a non-empty array of host names (or `listen` sockets of its own)', (is, h, p) =>
          list(is, h, p, 'a non-empty array of host names', claim, true),
        );
  const claimAddress: Check<AppListen> = (is, entry, p) => {
    const parsed = appListen(is, entry, p, name, baseDir);
    const key = parsed && addressKey(parsed.address);
    if (!parsed || key === undefined) return parsed;
    const owner = owners.addresses.get(key);
    if (owner === `app ${render(name)}`) return is.add(p, `address ${render(key)} is listed twice`);
    if (owner !== undefined) return is.add(p, `address ${render(key)} is already used by ${owner}`);
    owners.addresses.set(key, `app ${render(name)}`);
    return parsed;
  };
  const listen = field(issues, m, 'listen', path, (is, l, p) => list(is, l, p, 'a non-empty array of addresses', claimAddress, true)) ?? NO_LISTEN;
  // A bundle brings its own command and root filesystem; otherwise both are required.
  const bundle = field(issues, m, 'bundle', path, (is, b, p) => bundleDir(is, b, p, baseDir));
  if (m.bundle !== undefined) {
    for (const k of ['command', 'dir']) if (m[k] !== undefined) issues.add(keyPath(path, k), "not used with bundle: the bundle's config.json says what to run");
  }
  const command =
    m.bundle !== undefined
      ? []
      : requiredField(issues, m, 'command', path, 'a non-empty array of strings', (is, c, p) => list(is, c, p, 'a non-empty array of strings', string, true));
  const dir = m.bundle !== undefined ? bundle : requiredField(issues, m, 'dir', path, 'a directory path', (is, d, p) => directory(is, d, p, baseDir));
  const env = field(issues, m, 'env', path, environment) ?? NO_ENV;
  const dependsOn = field(issues, m, 'dependsOn', path, dependsOnList);
  const own = tunables(issues, m, path, baseDir);
  const runtime = own.runtime ?? defaults.runtime ?? (BUILTIN.runtime as RuntimeKind);
  if (m.bundle !== undefined && (runtime === 'process' || runtime === 'systemd' || runtime === 'nspawn')) issues.add(keyPath(path, 'runtime'), `a bundle needs the oci runtime, not ${runtime}`);
  if (runtime === 'nspawn' && nspawnBinary === undefined) issues.add(keyPath(path, 'runtime'), NO_NSPAWN);
  if ((runtime === 'oci' || m.bundle !== undefined) && ociRuntime === undefined) {
    issues.add(keyPath(path, m.bundle !== undefined ? 'bundle' : 'runtime'), `${NO_OCI_RUNTIME}`);
  }
  if (issues.count > before || !hosts || !command || !dir) return undefined;
  // Many apps run the same binary from the same place: one string each, not one per app.
  const intern = (s: string): string => owners.strings.get(s) ?? (owners.strings.set(s, s), s);

  const user = own.user ?? defaults.user;
  const pick = <K extends keyof Tunables>(k: K): Tunables[K] => own[k] ?? defaults[k];
  const spec: { -readonly [K in keyof AppSpec]: AppSpec[K] } = {
    name,
    hosts,
    listen,
    backlog: pick('backlog') ?? BUILTIN.backlog,
    command: command.map(intern),
    dir: intern(dir),
    env,
    runtime,
    idleTimeoutMs: pick('idleTimeoutMs') ?? BUILTIN.idleTimeoutMs,
    startTimeoutMs: pick('startTimeoutMs') ?? BUILTIN.startTimeoutMs,
    stopTimeoutMs: pick('stopTimeoutMs') ?? BUILTIN.stopTimeoutMs,
    queueLimit: pick('queueLimit') ?? BUILTIN.queueLimit,
    concurrency: pick('concurrency') ?? BUILTIN.concurrency,
    maxConnectionAgeMs: pick('maxConnectionAgeMs') ?? BUILTIN.maxConnectionAgeMs,
    busyCpu: pick('busyCpu') ?? parseCpuShare(BUILTIN.busyCpu),
  };
  // Unset ids and limits are left out rather than present-but-undefined, so `'pids' in spec` means set.
  const gid = pick('gid') ?? user?.primaryGid;
  const [memoryBytes, pids, cpuWeight] = [pick('memoryBytes'), pick('pids'), pick('cpuWeight')];
  const responseTimeoutMs = pick('responseTimeoutMs');
  if (bundle !== undefined) spec.bundle = bundle;
  if (dependsOn?.length) spec.dependsOn = dependsOn;
  if (responseTimeoutMs !== undefined) spec.responseTimeoutMs = responseTimeoutMs;
  if (user !== undefined) spec.uid = user.uid;
  if (gid !== undefined) spec.gid = gid;
  if (memoryBytes !== undefined) spec.memoryBytes = memoryBytes;
  if (pids !== undefined) spec.pids = pids;
  if (cpuWeight !== undefined) spec.cpuWeight = cpuWeight;
  const ignore = pick('wakeIgnore');
  if (ignore !== undefined) spec.wakeIgnore = ignore;
  const waiting = pick('waitingPage') ?? DEFAULT_WAITING_PAGE;
  if (waiting !== false) spec.waitingPage = waiting;
  const freezeAfterMs = pick('freezeAfterMs');
  // A freeze at or past the idle stop would never happen: the instance is gone first.
  if (freezeAfterMs !== undefined && freezeAfterMs > 0 && freezeAfterMs >= spec.idleTimeoutMs) {
    issues.add(keyPath(path, 'freezeAfter'), `must be shorter than idleTimeout (${spec.idleTimeoutMs} ms)`);
    return undefined;
  }
  if (freezeAfterMs !== undefined && freezeAfterMs > 0) spec.freezeAfterMs = freezeAfterMs;
  return spec;
}

function tunables(issues: Issues, m: Mapping, path: string, baseDir: string): Tunables {
  return {
    runtime: field(issues, m, 'runtime', path, (is, v, p) => oneOf(is, v, p, RUNTIMES)),
    idleTimeoutMs: field(issues, m, 'idleTimeout', path, duration),
    startTimeoutMs: field(issues, m, 'startTimeout', path, duration),
    stopTimeoutMs: field(issues, m, 'stopTimeout', path, duration),
    queueLimit: field(issues, m, 'queueLimit', path, (is, v, p) => integer(is, v, p, 1)),
    concurrency: field(issues, m, 'concurrency', path, (is, v, p) => integer(is, v, p, 1)),
    maxConnectionAgeMs: field(issues, m, 'maxConnectionAge', path, duration),
    responseTimeoutMs: field(issues, m, 'responseTimeout', path, duration),
    memoryBytes: field(issues, m, 'memory', path, memory),
    pids: field(issues, m, 'pids', path, (is, v, p) => integer(is, v, p, 1)),
    cpuWeight: field(issues, m, 'cpuWeight', path, (is, v, p) => integer(is, v, p, 1, 10_000)),
    user: field(issues, m, 'user', path, user),
    gid: field(issues, m, 'group', path, group),
    wakeIgnore: field(issues, m, 'wakeIgnore', path, wakeIgnore),
    backlog: field(issues, m, 'backlog', path, (is, v, p) => integer(is, v, p, 1, 65_535)),
    busyCpu: field(issues, m, 'busyCpu', path, cpuShare),
    waitingPage: field(issues, m, 'waitingPage', path, (is, v, p) => waitingPage(is, v, p, baseDir)),
    freezeAfterMs: field(issues, m, 'freezeAfter', path, duration),
  };
}

