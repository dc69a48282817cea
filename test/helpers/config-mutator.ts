/**
 * A deterministic fuzzer for the config loader (used by test/unit/config-fuzz.test.ts).
 *
 * Every document is generated from one 32-bit seed: a valid seed config, then structural mutations on
 * the parsed object and textual mutations on its YAML or JSON text. Documents are parsed in a worker
 * thread whose progress sits in shared memory, so a parse that never returns is detected by the main
 * thread, reported with its document (regenerated from the seed) and the run goes on in a new worker.
 * This module is also that worker's entry point (see the end of the file).
 */
import { isAbsolute } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { MAX_ID } from '../../src/config/accounts.js';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayConfig, ListenAddress } from '../../src/config/types.js';
import { MAX_DURATION_MS } from '../../src/config/units.js';
import { ConfigError } from '../../src/errors.js';
import { excerpt, type FuzzDocument, generateDocument } from './config-fuzz/fuzz-document.js';
import { documentSeed } from './seeded-random.js';

// ---------------------------------------------------------------------------------------------------
// Checks of the outcome

const APP_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HOST_RE = /^(?:\*\.)?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const APP_KEYS = new Set(['name', 'hosts', 'command', 'dir', 'bundle', 'env', 'runtime', 'uid', 'gid', 'idleTimeoutMs', 'startTimeoutMs', 'stopTimeoutMs', 'queueLimit', 'concurrency', 'maxConnectionAgeMs', 'responseTimeoutMs', 'memoryBytes', 'pids', 'cpuWeight', 'wakeIgnore', 'listen', 'backlog', 'busyCpu']);
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
    need(isInt(app.queueLimit, 1), at('queueLimit'));
    need(app.uid === undefined || isInt(app.uid, 0, MAX_ID), at('uid'));
    need(app.gid === undefined || isInt(app.gid, 0, MAX_ID), at('gid'));
    need(app.memoryBytes === undefined || isInt(app.memoryBytes, 4 * 1024 ** 2), at('memoryBytes'));
    need(app.pids === undefined || isInt(app.pids, 1), at('pids'));
    need(app.cpuWeight === undefined || isInt(app.cpuWeight, 1, 10_000), at('cpuWeight'));
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

/** What is wrong with what the loader threw; undefined for a proper ConfigError. */
export function errorProblem(err: unknown): string | undefined {
  if (!(err instanceof ConfigError)) return `threw ${describeError(err)}`;
  if (!Array.isArray(err.issues) || err.issues.length === 0) return 'a ConfigError without issues';
  for (const issue of err.issues) {
    if (typeof issue.path !== 'string') return `an issue without a string path: ${JSON.stringify(issue)}`;
    if (typeof issue.message !== 'string' || issue.message === '') return `an issue without a message at ${JSON.stringify(issue.path)}`;
    // schema.ts turns any exception thrown while validating into this issue: it is a bug all the same.
    if (issue.message.startsWith('failed to validate config:')) return `the validator crashed: ${describeError(err.cause)}`;
  }
  return undefined;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `a non-Error: ${String(err).slice(0, 200)}`;
  const frames = (err.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 4).map((l) => l.trim());
  return `${err.name}: ${err.message.slice(0, 300)} [${frames.join(' < ')}]`;
}

// ---------------------------------------------------------------------------------------------------
// Running: a worker parses, the main thread watches

/** Changes to the built-in prototypes since `baseline` (keys added), and inherited junk on a fresh object. */
export function pollution(baseline: Map<string, Set<PropertyKey>>): string[] {
  const found: string[] = [];
  const probe: { polluted?: unknown; isAdmin?: unknown; yes?: unknown } = {};
  if (probe.polluted !== undefined || probe.isAdmin !== undefined || probe.yes !== undefined) found.push('({}).polluted and the like are defined');
  for (const [name, keys] of prototypeKeys()) {
    const before = baseline.get(name) ?? new Set<PropertyKey>();
    for (const k of keys) if (!before.has(k)) found.push(`${name} gained ${String(k)}`);
  }
  return found;
}

export function prototypeKeys(): Map<string, Set<PropertyKey>> {
  const protos: [string, object][] = [
    ['Object.prototype', Object.prototype],
    ['Array.prototype', Array.prototype],
    ['Function.prototype', Function.prototype],
    ['String.prototype', String.prototype],
  ];
  return new Map(protos.map(([name, proto]) => [name, new Set(Reflect.ownKeys(proto))]));
}

export interface FuzzFailure {
  index: number;
  seed: number;
  problem: string;
  /** How the document was made from its seed config, and its text (shortened). */
  ops: string;
  document: string;
}

export interface FuzzReport {
  valid: number;
  rejected: number;
  maxMs: number;
  slowest: number;
  failures: FuzzFailure[];
  pollution: string[];
  /** Documents whose parse was cut short (a hang, or the worker died); neither valid nor rejected. */
  stopped: number;
}

interface WorkerInput extends FuzzOptions {
  kind: typeof WORKER_KIND;
  /** Where in `indexes` to begin (after a hang, past the document that hung). */
  from: number;
  progress: SharedArrayBuffer;
}

type WorkerMessage = { type: 'failure'; failure: FuzzFailure } | { type: 'done'; pollution: string[] };

const WORKER_KIND = 'wakegate-config-fuzz';
// Progress in shared memory: the position in `indexes` being parsed, when its parse began (ms since the
// epoch, 0 between parses), the counts so far and the slowest parse.
const P_POS = 0;
const P_STARTED = 1;
const P_VALID = 2;
const P_REJECTED = 3;
const P_MAX_MS = 4;
const P_SLOWEST = 5;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** One document: undefined when the outcome is fine, else what is wrong. */
function check(doc: FuzzDocument, file: string): { problem?: string; valid: boolean } {
  let cfg: GatewayConfig;
  try {
    cfg = parseConfig(doc.text, file, { env: doc.env, uid: 0 });
  } catch (err) {
    const problem = errorProblem(err);
    return problem === undefined ? { valid: false } : { problem, valid: false };
  }
  const problems = configProblems(cfg, file);
  return problems.length === 0 ? { valid: true } : { problem: `accepted, but: ${problems.slice(0, 5).join('; ')}`, valid: true };
}

function runWorker(input: WorkerInput): void {
  const progress = new Float64Array(input.progress);
  const baseline = prototypeKeys();
  for (let pos = input.from; pos < input.indexes.length; pos++) {
    const index = input.indexes[pos]!;
    const seed = documentSeed(input.runSeed, index);
    let doc: FuzzDocument;
    try {
      doc = generateDocument(seed, input.path);
    } catch (err) {
      const message: WorkerMessage = { type: 'failure', failure: { index, seed, problem: `the fuzzer failed to generate it: ${describeError(err)}`, ops: '', document: '' } };
      parentPort!.postMessage(message);
      continue;
    }
    progress[P_POS] = pos;
    const started = now();
    progress[P_STARTED] = started;
    const outcome = check(doc, input.file);
    const ms = now() - started;
    progress[P_STARTED] = 0;
    progress[outcome.valid ? P_VALID : P_REJECTED]! += 1;
    if (ms > progress[P_MAX_MS]!) {
      progress[P_MAX_MS] = ms;
      progress[P_SLOWEST] = index;
    }
    let problem = outcome.problem;
    if (ms > input.limitMs) problem = `${problem ? `${problem}; ` : ''}took ${ms.toFixed(0)} ms (limit ${input.limitMs} ms)`;
    if (problem !== undefined) {
      const message: WorkerMessage = { type: 'failure', failure: { index, seed, problem, ...excerpt(doc) } };
      parentPort!.postMessage(message);
    }
  }
  const done: WorkerMessage = { type: 'done', pollution: pollution(baseline) };
  parentPort!.postMessage(done);
}

export interface FuzzOptions {
  runSeed: number;
  indexes: number[];
  /** The config file name documents are parsed as (relative paths resolve against its directory). */
  file: string;
  /** PATH for the documents' environment: where the fake runc is. */
  path: string;
  /** A parse that takes longer fails. */
  limitMs: number;
  /** A parse still running after this long is a hang: its worker is terminated. */
  hangMs: number;
  workers: number;
}

/** Runs the documents in `opts.workers` workers, each taking every n-th document. */
export async function fuzzConfigs(opts: FuzzOptions): Promise<FuzzReport> {
  const slices = Array.from({ length: opts.workers }, (_, w) => opts.indexes.filter((_, i) => i % opts.workers === w));
  const reports = await Promise.all(slices.filter((s) => s.length > 0).map((indexes) => fuzzSlice({ ...opts, indexes })));
  const slowest = reports.reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
  return {
    valid: reports.reduce((n, r) => n + r.valid, 0),
    rejected: reports.reduce((n, r) => n + r.rejected, 0),
    stopped: reports.reduce((n, r) => n + r.stopped, 0),
    maxMs: slowest.maxMs,
    slowest: slowest.slowest,
    failures: reports.flatMap((r) => r.failures).sort((a, b) => a.index - b.index),
    pollution: reports.flatMap((r) => r.pollution),
  };
}

/**
 * Parses documents `indexes` of run `runSeed` in a worker (1 MB of stack like the main thread, a bounded heap).
 * A parse still running after `hangMs` is a hang: the worker is terminated, the document reported and the
 * run resumes after it in a new worker. A worker that dies (out of memory, say) is handled likewise.
 */
async function fuzzSlice(opts: FuzzOptions): Promise<FuzzReport> {
  const progress = new Float64Array(new SharedArrayBuffer(8 * 6));
  const report: FuzzReport = { valid: 0, rejected: 0, maxMs: 0, slowest: -1, failures: [], pollution: [], stopped: 0 };
  let from = 0;
  while (from < opts.indexes.length) {
    progress[P_POS] = from;
    progress[P_STARTED] = 0;
    const input: WorkerInput = { kind: WORKER_KIND, ...opts, from, progress: progress.buffer as SharedArrayBuffer };
    const stopped = await new Promise<string | undefined>((resolve) => {
      // No execArgv: the test runner's --import hooks would load into every worker, for nothing.
      const worker = new Worker(new URL(import.meta.url), { workerData: input, execArgv: [], resourceLimits: { stackSizeMb: 1, maxOldGenerationSizeMb: 1024 } });
      let finished = false;
      let reason: string | undefined;
      const watchdog = setInterval(() => {
        const started = progress[P_STARTED]!;
        if (started > 0 && now() - started > opts.hangMs) {
          reason = `still parsing after ${opts.hangMs} ms: a hang`;
          void worker.terminate();
        }
      }, 100);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'failure') report.failures.push(m.failure);
        else {
          finished = true;
          report.pollution = m.pollution;
        }
      });
      worker.on('error', (err) => {
        reason = `the worker died: ${describeError(err)}`;
      });
      worker.on('exit', (code) => {
        clearInterval(watchdog);
        resolve(finished ? undefined : (reason ?? `the worker exited with code ${code}`));
      });
    });
    if (stopped === undefined) break;
    const pos = progress[P_POS]!;
    const index = opts.indexes[pos]!;
    const seed = documentSeed(opts.runSeed, index);
    let doc: { ops: string; document: string };
    try {
      doc = excerpt(generateDocument(seed, opts.path));
    } catch (err) {
      doc = { ops: `(cannot be generated: ${describeError(err)})`, document: '' };
    }
    report.failures.push({ index, seed, problem: stopped, ...doc });
    report.stopped++;
    from = pos + 1;
  }
  report.valid = progress[P_VALID]!;
  report.rejected = progress[P_REJECTED]!;
  report.maxMs = progress[P_MAX_MS]!;
  report.slowest = progress[P_SLOWEST]!;
  return report;
}

if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND) runWorker(workerData as WorkerInput);
