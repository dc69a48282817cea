/** Checks of a config the loader accepted: the shape every consumer of GatewayConfig relies on. */
import { isAbsolute } from 'node:path';
import { MAX_ID } from '../../../src/config/accounts.js';
import type { GatewayConfig, ListenAddress } from '../../../src/config/types.js';
import { MAX_DURATION_MS } from '../../../src/config/units.js';

const APP_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HOST_RE = /^(?:\*\.)?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const APP_KEYS = new Set(['name', 'hosts', 'command', 'dir', 'bundle', 'env', 'runtime', 'uid', 'gid', 'idleTimeoutMs', 'startTimeoutMs', 'stopTimeoutMs', 'queueLimit', 'concurrency', 'maxConnectionAgeMs', 'responseTimeoutMs', 'memoryBytes', 'pids', 'cpuWeight', 'wakeIgnore', 'listen', 'backlog', 'busyCpu', 'waitingPage', 'dependsOn', 'freezeAfterMs']);
const FD_NAME_RE = /^[A-Za-z0-9_.-]{1,255}$/;

/** The path of the first object (or array) below `root` that is not frozen. */
function unfrozen(root: unknown): string | undefined {
  const stack: [unknown, string][] = [[root, 'config']];
  const seen = new Set<object>();
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [v, path] = entry;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (!Object.isFrozen(v)) return path;
    for (const k of Reflect.ownKeys(v)) stack.push([Reflect.get(v, k), `${path}.${String(k)}`]);
  }
  return undefined;
}

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): boolean =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const isText = (v: unknown): v is string => typeof v === 'string' && v !== '' && !v.includes('\0');

function listenProblem(a: ListenAddress | undefined): string | undefined {
  if (a?.kind === 'tcp') return isText(a.host) && isInt(a.port, 0, 65535) ? undefined : 'bad tcp address';
  if (a?.kind === 'unix') return isText(a.path) && isAbsolute(a.path) && Buffer.byteLength(a.path) <= 107 ? undefined : 'bad unix path';
  return 'not an address';
}

/** What is wrong with a config the loader accepted; [] when it is a valid shape. */
export function configProblems(cfg: GatewayConfig, file: string): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string): void => {
    if (!ok) problems.push(what);
  };
  const frozen = unfrozen(cfg);
  if (frozen !== undefined) problems.push(`${frozen} is not frozen`);
  need(cfg.file === file, 'file');
  const http = listenProblem(cfg.listen?.http);
  if (http) problems.push(`listen.http: ${http}`);
  if (cfg.admin !== undefined) {
    const admin = listenProblem(cfg.admin.listen);
    if (admin) problems.push(`admin.listen: ${admin}`);
    need(cfg.admin.token === undefined || (typeof cfg.admin.token === 'string' && cfg.admin.token.length >= 16), 'admin.token');
  }
  need(isText(cfg.runtimeDir) && isAbsolute(cfg.runtimeDir), 'runtimeDir');
  need(Array.isArray(cfg.trustedProxies) && cfg.trustedProxies.every(isText), 'trustedProxies');
  need(isInt(cfg.shutdownTimeoutMs, 0, MAX_DURATION_MS), 'shutdownTimeoutMs');
  need(isInt(cfg.sampleIntervalMs, 100, MAX_DURATION_MS), 'sampleIntervalMs');
  need(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(cfg.log?.level) && typeof cfg.log.requests === 'boolean', 'log');
  need(cfg.oci?.runtime === undefined || (isText(cfg.oci.runtime) && isAbsolute(cfg.oci.runtime)), 'oci.runtime');
  // Newer sections are checked generically: numbers that are whole and not negative.
  const limits: unknown = Reflect.get(cfg, 'limits');
  if (limits !== undefined) {
    need(typeof limits === 'object' && limits !== null && Object.values(limits).every((n) => isInt(n, 0)), 'limits');
  }
  const hostOwners = new Map<string, string>();
  const addressOwners = new Set<string>();
  for (const [name, app] of Object.entries(cfg.apps ?? {})) {
    const at = (what: string): string => `apps.${name}.${what}`;
    need(app.name === name && APP_NAME_RE.test(name), at('name'));
    // Unset values are left out, not present as undefined; keys this check does not know are reported.
    for (const [key, value] of Object.entries(app)) need(APP_KEYS.has(key) && value !== undefined, at(`${key} is not an AppSpec key, or undefined`));
    need(Array.isArray(app.hosts) && (app.hosts.length > 0 || app.listen?.length > 0), at('hosts (or listen)'));
    need(Array.isArray(app.listen) && isInt(app.backlog, 1, 65_535), at('listen/backlog'));
    need(typeof app.busyCpu === 'number' && Number.isFinite(app.busyCpu) && app.busyCpu >= 0, at('busyCpu'));
    for (const entry of app.listen ?? []) {
      const problem = listenProblem(entry.address);
      if (problem) problems.push(at(`listen: ${problem}`));
      need(typeof entry.name === 'string' && FD_NAME_RE.test(entry.name), at(`listen name ${JSON.stringify(entry.name)}`));
      const key = entry.address?.kind === 'tcp' ? (entry.address.port === 0 ? undefined : `${entry.address.host}:${entry.address.port}`) : entry.address?.path;
      need(key === undefined || !addressOwners.has(key), at(`listen: ${key} is held twice`));
      if (key !== undefined) addressOwners.add(key);
    }
    for (const host of app.hosts ?? []) {
      need(typeof host === 'string' && host.length <= 253 && HOST_RE.test(host), at(`hosts: ${JSON.stringify(host)}`));
      need(!hostOwners.has(host), at(`hosts: ${JSON.stringify(host)} is also claimed by ${hostOwners.get(host)}`));
      hostOwners.set(host, name);
    }
    need(Array.isArray(app.command) && app.command.every(isText), at('command'));
    need(app.bundle === undefined ? app.command.length > 0 : app.command.length === 0 && app.dir === app.bundle, at('command/bundle'));
    need(isText(app.dir) && isAbsolute(app.dir), at('dir'));
    need(typeof app.env === 'object' && app.env !== null, at('env'));
    for (const [k, v] of Object.entries(app.env ?? {})) need(ENV_NAME_RE.test(k) && !k.startsWith('LISTEN_') && typeof v === 'string' && !v.includes('\0'), at(`env.${k}`));
    need(['process', 'oci', 'auto'].includes(app.runtime), at('runtime'));
    need(!(app.runtime === 'process' && app.bundle !== undefined), at('runtime: process with a bundle'));
    need((app.runtime !== 'oci' && app.bundle === undefined) || cfg.oci.runtime !== undefined, at('needs oci.runtime'));
    for (const k of ['idleTimeoutMs', 'startTimeoutMs', 'stopTimeoutMs', 'maxConnectionAgeMs'] as const) need(isInt(app[k], 0, MAX_DURATION_MS), at(k));
    const responseTimeoutMs: unknown = Reflect.get(app, 'responseTimeoutMs');
    need(responseTimeoutMs === undefined || isInt(responseTimeoutMs, 0, MAX_DURATION_MS), at('responseTimeoutMs'));
    const freezeAfterMs: unknown = Reflect.get(app, 'freezeAfterMs');
    need(freezeAfterMs === undefined || (isInt(freezeAfterMs, 1, MAX_DURATION_MS) && Number(freezeAfterMs) < app.idleTimeoutMs), at('freezeAfterMs'));
    need(isInt(app.queueLimit, 1), at('queueLimit'));
    need(app.uid === undefined || isInt(app.uid, 0, MAX_ID), at('uid'));
    need(app.gid === undefined || isInt(app.gid, 0, MAX_ID), at('gid'));
    need(app.memoryBytes === undefined || isInt(app.memoryBytes, 4 * 1024 ** 2), at('memoryBytes'));
    need(app.pids === undefined || isInt(app.pids, 1), at('pids'));
    need(app.cpuWeight === undefined || isInt(app.cpuWeight, 1, 10_000), at('cpuWeight'));
    const page = app.waitingPage;
    need(page === undefined || (isInt(page.afterMs, 0, MAX_DURATION_MS) && (page.file === undefined) === (page.template === undefined)), at('waitingPage'));
    const w = app.wakeIgnore;
    if (w !== undefined) {
      need(Array.isArray(w.paths) && w.paths.every((p) => isText(p) && p.startsWith('/')), at('wakeIgnore.paths'));
      need(Array.isArray(w.userAgents) && w.userAgents.every((a) => isText(a) && a === a.toLowerCase()), at('wakeIgnore.userAgents'));
      need(w.paths.length + w.userAgents.length > 0, at('wakeIgnore is empty'));
      const res = w.response;
      need(
        res === undefined || (isInt(res.status, 200, 599) && typeof res.body === 'string' && (res.retryAfterSec === undefined || isInt(res.retryAfterSec, 0))),
        at('wakeIgnore.response'),
      );
    }
  }
  return problems;
}
