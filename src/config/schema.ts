/**
 * Turns a parsed config document into a GatewayConfig, or a ConfigError listing every problem.
 * Input is untrusted (hand-edited YAML, fuzzed documents), so nothing but ConfigError escapes.
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { DEFAULT_PATH, findExecutable, findOciRuntime } from '../runtime/executable.js';
import { DEFAULTS } from '../defaults.js';
import { appsSection, defaultsSection } from './apps.js';
import { capacitySection } from './capacity-section.js';
import { directory as existingDirectory, group } from './app-values.js';
import {
  Issues,
  absolutePath,
  boolean,
  duration,
  field,
  list,
  listenAddress,
  addressKey,
  mapping,
  oneOf,
  render,
  requiredField,
  string,
  keyPath,
  ipOrCidr,
  kind,
  size,
  integer,
} from './checks.js';
import type { GatewayConfig, Limits, ListenAddress, LogLevel } from './types.js';

export interface ValidateOptions {
  /** Where WAKEGATE_LOG_LEVEL and XDG_RUNTIME_DIR are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The uid that picks the default runtimeDir; default process.getuid(). For tests. */
  uid?: number;
}

const TOP_KEYS = ['listen', 'admin', 'runtimeDir', 'socketGroup', 'trustedProxies', 'shutdownTimeout', 'sampleInterval', 'workers', 'capacity', 'log', 'limits', 'oci', 'nspawn', 'defaults', 'apps'];
// Below this the sampler's dumps would cost more than the idle stop they serve is worth.
const MIN_SAMPLE_INTERVAL_MS = 100;
// A front process per core is the most that helps; far past that is a typo, and each worker costs its RSS.
const MAX_WORKERS = 256;
const LIMIT_KEYS = ['headersTimeout', 'requestTimeout', 'maxUrlLength', 'maxHeaderSize', 'maxHeaders', 'sendTimeout'];
/**
 * headersTimeout is short because a complete head is small and a slow one is a slowloris. requestTimeout
 * bounds the whole upload, body included, so it must leave room for large bodies on slow links.
 * maxHeaderSize is node:http's own default; maxHeaders is Apache's LimitRequestFields.
 */
export const BUILTIN_LIMITS: Limits = DEFAULTS.limits;
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MIN_TOKEN_LENGTH = 16;
const LISTEN_EXAMPLE = 'a mapping like { http: "127.0.0.1:8080" }';

export function validateConfig(raw: unknown, file: string, opts: ValidateOptions = {}): GatewayConfig {
  const abs = resolve(file);
  const issues = new Issues();
  let config: GatewayConfig | undefined;
  try {
    config = gatewayConfig(issues, raw, abs, opts);
  } catch (err) {
    // A bug here must still fail as a config problem, not crash `wakegate check` with a TypeError.
    const message = `failed to validate config: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(abs, [...issues.list, { path: '', message }], { cause: err });
  }
  if (issues.count > 0 || config === undefined) throw new ConfigError(abs, issues.list);
  return deepFreeze(config);
}

function gatewayConfig(issues: Issues, raw: unknown, file: string, opts: ValidateOptions): GatewayConfig | undefined {
  const env = opts.env ?? process.env;
  const baseDir = dirname(file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return issues.add('', `expected a mapping at the top level, got ${render(raw)}`);
  }
  const top = mapping(issues, raw, '', TOP_KEYS);
  if (!top) return undefined;

  const listen = requiredField(issues, top, 'listen', '', LISTEN_EXAMPLE, (is, v, p) => listenSection(is, v, p, baseDir));
  const admin = field(issues, top, 'admin', '', (is, v, p) => adminSection(is, v, p, baseDir));
  const runtimeDir =
    field(issues, top, 'runtimeDir', '', (is, v, p) => absolutePath(is, v, p, baseDir)) ?? defaultRuntimeDir(env, opts.uid);
  // Resolved at load, like an app's `group`, so that a typo fails `wakegate check`.
  const socketGroup = field(issues, top, 'socketGroup', '', group);
  const trustedProxies = field(issues, top, 'trustedProxies', '', (is, v, p) =>
    list(is, v, p, 'an array of IP addresses or CIDRs', ipOrCidr),
  );
  const shutdownTimeoutMs = field(issues, top, 'shutdownTimeout', '', duration);
  const sampleIntervalMs = field(issues, top, 'sampleInterval', '', (is, v, p) => {
    const ms = duration(is, v, p);
    return ms !== undefined && ms < MIN_SAMPLE_INTERVAL_MS ? is.add(p, `must be at least ${MIN_SAMPLE_INTERVAL_MS}ms, got ${render(v)}`) : ms;
  });
  const workers = field(issues, top, 'workers', '', (is, v, p) => integer(is, v, p, 1, MAX_WORKERS));
  const capacity = field(issues, top, 'capacity', '', capacitySection);
  const log = logSection(issues, top.log, env);
  const limits = limitsSection(issues, top.limits);
  const oci = ociSection(issues, top.oci, env.PATH || DEFAULT_PATH, baseDir);
  const nspawn = nspawnSection(issues, top.nspawn, env.PATH || DEFAULT_PATH, baseDir);
  const defaults = field(issues, top, 'defaults', '', (is, v, p) => defaultsSection(is, v, p, baseDir)) ?? {};
  // The gateway's own listeners are claimed first, so an app's socket on one of them names it.
  const owners = new Map<string, string>();
  for (const [owner, address] of [['listen.http', listen], ['admin.listen', admin?.listen]] as const) {
    const key = address && addressKey(address);
    if (key !== undefined) owners.set(key, owner);
  }
  const apps = requiredField(issues, top, 'apps', '', 'a mapping of app names to apps (may be {})', (is, v, p) =>
    appsSection(is, v, p, defaults, baseDir, oci?.runtime, owners, nspawn?.binary),
  );
  if (issues.count > 0 || !listen || !apps || !log || !limits || !oci || !nspawn) return undefined;
  return {
    file,
    listen: { http: listen },
    ...(admin && { admin }),
    runtimeDir,
    ...(socketGroup !== undefined && { socketGroup }),
    trustedProxies: trustedProxies ?? [],
    shutdownTimeoutMs: shutdownTimeoutMs ?? DEFAULTS.gateway.shutdownTimeoutMs,
    sampleIntervalMs: sampleIntervalMs ?? DEFAULTS.gateway.sampleIntervalMs,
    workers: workers ?? DEFAULTS.gateway.workers,
    ...(capacity && { capacity }),
    log,
    limits,
    oci,
    nspawn,
    apps,
  };
}

function limitsSection(issues: Issues, v: unknown): Limits | undefined {
  const m = v === undefined ? Object.create(null) : mapping(issues, v, 'limits', LIMIT_KEYS);
  if (!m) return undefined;
  const before = issues.count;
  const positive = (is: Issues, x: unknown, p: string): number | undefined => {
    const bytes = size(is, x, p);
    return bytes === 0 ? is.add(p, `must be at least 1 byte, got ${render(x)}`) : bytes;
  };
  const limits: Limits = {
    headersTimeoutMs: field(issues, m, 'headersTimeout', 'limits', duration) ?? BUILTIN_LIMITS.headersTimeoutMs,
    requestTimeoutMs: field(issues, m, 'requestTimeout', 'limits', duration) ?? BUILTIN_LIMITS.requestTimeoutMs,
    maxUrlLength: field(issues, m, 'maxUrlLength', 'limits', positive) ?? BUILTIN_LIMITS.maxUrlLength,
    maxHeaderSize: field(issues, m, 'maxHeaderSize', 'limits', positive) ?? BUILTIN_LIMITS.maxHeaderSize,
    maxHeaders: field(issues, m, 'maxHeaders', 'limits', (is, x, p) => integer(is, x, p, 1)) ?? BUILTIN_LIMITS.maxHeaders,
    sendTimeoutMs: field(issues, m, 'sendTimeout', 'limits', duration) ?? BUILTIN_LIMITS.sendTimeoutMs,
  };
  // node:http refuses to start with a head deadline past the whole-request one; say so at load instead.
  const { headersTimeoutMs: head, requestTimeoutMs: whole } = limits;
  if (head > 0 && whole > 0 && head > whole) {
    issues.add('limits.headersTimeout', `must not be longer than limits.requestTimeout (${whole} ms), got ${head} ms`);
  }
  return issues.count > before ? undefined : limits;
}

/** Resolves the OCI runtime binary once, at load, so `wakegate check` reports a missing one. */
function ociSection(issues: Issues, v: unknown, searchPath: string, baseDir: string): GatewayConfig['oci'] | undefined {
  const m = v === undefined ? Object.create(null) : mapping(issues, v, 'oci', ['runtime']);
  if (!m) return undefined;
  const configured = field(issues, m, 'runtime', 'oci', string);
  if (m.runtime !== undefined && configured === undefined) return undefined;
  // A path is relative to the config file, like every other path in it; a bare name is searched in PATH.
  const runtime = findOciRuntime(configured?.includes('/') ? resolve(baseDir, configured) : configured, searchPath);
  if (configured !== undefined && runtime === undefined) {
    return issues.add('oci.runtime', `no executable ${render(configured)} found${configured.includes('/') ? '' : ' on PATH'}; install one with: apt-get install runc`);
  }
  return runtime === undefined ? {} : { runtime };
}

/** Finds systemd-nspawn once, at load (an app on `runtime: nspawn` without it is a config error), and checks `nspawn.directory`. */
function nspawnSection(issues: Issues, v: unknown, searchPath: string, baseDir: string): GatewayConfig['nspawn'] | undefined {
  const m = v === undefined ? Object.create(null) : mapping(issues, v, 'nspawn', ['directory']);
  if (!m) return undefined;
  const directory = field(issues, m, 'directory', 'nspawn', (is, d, p) => existingDirectory(is, d, p, baseDir));
  const binary = findExecutable('systemd-nspawn', searchPath);
  return { ...(binary !== undefined && { binary }), ...(directory !== undefined && { directory }) };
}

function listenSection(issues: Issues, v: unknown, path: string, baseDir: string): ListenAddress | undefined {
  const m = mapping(issues, v, path, ['http']);
  if (!m) return undefined;
  return requiredField(issues, m, 'http', path, 'an address like "127.0.0.1:8080"', (is, a, p) => listenAddress(is, a, p, baseDir));
}

function adminSection(issues: Issues, v: unknown, path: string, baseDir: string): GatewayConfig['admin'] {
  const m = mapping(issues, v, path, ['listen', 'token']);
  if (!m) return undefined;
  const listen = requiredField(issues, m, 'listen', path, 'an address like "127.0.0.1:9090"', (is, a, p) =>
    listenAddress(is, a, p, baseDir),
  );
  const token = field(issues, m, 'token', path, (is, t, p) => {
    // Never echo the token: error output ends up in logs and CI transcripts.
    if (typeof t !== 'string') return is.add(p, `expected a string of at least ${MIN_TOKEN_LENGTH} characters, got ${kind(t)}`);
    if (t.length < MIN_TOKEN_LENGTH) return is.add(p, `must be at least ${MIN_TOKEN_LENGTH} characters long, got ${t.length}`);
    return t;
  });
  if (listen === undefined) return undefined;
  // The admin API can stop every tenant: beyond this host it must not be reachable without a token.
  if (token === undefined && m.token === undefined && listen.kind === 'tcp' && !isLoopback(listen.host)) {
    return issues.add(keyPath(path, 'token'), `required when admin.listen is not a loopback address or a Unix socket (it is ${render(listen.host)})`);
  }
  return token === undefined ? { listen } : { listen, token };
}

/** A host name or address that only this machine reaches (admin.listen without a token; haproxy-config). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function logSection(issues: Issues, v: unknown, env: NodeJS.ProcessEnv): GatewayConfig['log'] | undefined {
  const m = v === undefined ? Object.create(null) : mapping(issues, v, 'log', ['level', 'requests']);
  if (!m) return undefined;
  let level = field(issues, m, 'level', 'log', (is, l, p) => oneOf(is, l, p, LOG_LEVELS));
  // An empty value counts as unset, so `WAKEGATE_LOG_LEVEL= wakegate run` falls back to the file.
  const override = env.WAKEGATE_LOG_LEVEL;
  if (override !== undefined && override !== '') level = oneOf(issues, override, 'env.WAKEGATE_LOG_LEVEL', LOG_LEVELS);
  const requests = field(issues, m, 'requests', 'log', boolean);
  return { level: level ?? DEFAULTS.gateway.log.level, requests: requests ?? DEFAULTS.gateway.log.requests };
}

/**
 * root gets the FHS location, others their XDG runtime dir. The /tmp fallback is predictable, so
 * whoever creates it must check its owner and mode before trusting sockets in it.
 */
function defaultRuntimeDir(env: NodeJS.ProcessEnv, uid = process.getuid?.()): string {
  if (uid === 0) return '/run/wakegate';
  const xdg = env.XDG_RUNTIME_DIR;
  // The XDG spec says to ignore a relative XDG_RUNTIME_DIR.
  if (xdg && isAbsolute(xdg)) return join(xdg, 'wakegate');
  return `/tmp/wakegate-${uid ?? 'unknown'}`;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}
