/**
 * Cold start of the same app along every path we can compare in one run: the gateway on each runtime, the
 * bare mechanism each runtime wraps, and systemd-socket-activate (the design's prior art). The order of the
 * paths rotates run by run, so each path takes each position equally often and thermal or cache drift
 * lands on all of them alike.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timedGet } from './timed-get.js';
import { validateConfig } from '../src/config/schema.js';
import { bareOnce, processStarter, runcStarter, socketActivateOnce } from './bare.js';
import { GatewayProcess, HELLO_DIR, type LogLine } from './gateway-process.js';
import { markdownTable, ms, ratio, summarize, type Summary } from './stats.js';

export type ColdStartPath = 'bare-process' | 'gateway-process' | 'socket-activate' | 'bare-runc' | 'gateway-oci' | 'gateway-nspawn';

export interface ColdStartOptions {
  readonly runs: number;
  /** Discarded runs of each path first: the very first exec pays for page-cache misses on node itself. */
  readonly warmup: number;
  /** The OCI runtime binary; without it the two container paths are left out. */
  readonly runc?: string;
  /** Left out when the file does not exist. */
  readonly socketActivate?: string;
  /** Whether to measure the nspawn runtime (systemd-nspawn installed, root); the gateway finds the binary itself. */
  readonly nspawn?: boolean;
}

export interface ColdStartPathResult {
  readonly path: ColdStartPath;
  readonly samplesMs: number[];
  readonly summary: Summary;
  /** Gateway paths: what the gateway itself logged per cold start, trigger to runtime.start returning / to first byte. */
  readonly logged?: {
    readonly spawnMs: Summary;
    readonly firstByteMs: Summary;
    readonly samples: ReadonlyArray<{ readonly spawnMs: number; readonly firstByteMs: number }>;
  };
}

export interface ColdStartOverhead {
  readonly path: ColdStartPath;
  /** The bare path it is compared with. */
  readonly over: ColdStartPath;
  /** Difference of percentiles (not a percentile of differences): the runs are not paired. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ratioP50: number;
  readonly ratioP99: number;
}

export interface ColdStartResult {
  readonly runs: number;
  readonly warmup: number;
  readonly command: readonly string[];
  readonly runc: string | null;
  readonly socketActivate: string | null;
  /** In rotation order. */
  readonly paths: readonly ColdStartPathResult[];
  readonly overheads: readonly ColdStartOverhead[];
}

/** What the clock covers on each path; the bare paths include the spawn, the others start at the send. */
export const PATH_LABELS: Readonly<Record<ColdStartPath, string>> = {
  'bare-process': 'bare node fork/exec, socket pre-bound (spawn → first header)',
  'gateway-process': 'gateway, runtime process (send → first header)',
  'socket-activate': 'systemd-socket-activate (send → first header)',
  'bare-runc': 'bare `runc run` of the same bundle (spawn → first header)',
  'gateway-oci': 'gateway, runtime oci (send → first header)',
  'gateway-nspawn': 'gateway, runtime nspawn (send → first header)',
};

const BASELINES: ReadonlyArray<readonly [ColdStartPath, ColdStartPath]> = [
  ['gateway-process', 'bare-process'],
  ['socket-activate', 'bare-process'],
  ['gateway-oci', 'bare-runc'],
  // No bare nspawn path: the container it makes is compared with runc's, the other container manager.
  ['gateway-nspawn', 'bare-runc'],
];

// Same binary and argv on every path; inside a container node comes from the host's /usr, as here.
const COMMAND = ['/usr/bin/node', 'server.mjs'] as const;
// The idle stop is how the gateway paths get back to "stopped" between runs until the admin API exists.
const IDLE_TIMEOUT = '200ms';
export const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';

type Run = () => Promise<{ ms: number; logged?: LogLine }>;

export async function coldStart(opts: ColdStartOptions): Promise<ColdStartResult> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-bench-bare-'));
  const socketActivate = opts.socketActivate ?? SOCKET_ACTIVATE;
  const hasActivate = existsSync(socketActivate);
  const spec = (runtime: 'process' | 'oci' | 'nspawn', host: string) => ({ hosts: [host], command: COMMAND, dir: HELLO_DIR, runtime, idleTimeout: IDLE_TIMEOUT });
  // One gateway serves both runtimes, as a mixed deployment would; the app not under test sits stopped.
  const apps: Record<string, unknown> = { 'hello-process': spec('process', 'hello-process.localhost') };
  if (opts.runc) apps['hello-oci'] = spec('oci', 'hello-oci.localhost');
  if (opts.nspawn) apps['hello-nspawn'] = spec('nspawn', 'hello-nspawn.localhost');
  let gateway: GatewayProcess | undefined;
  let bareRunc: ReturnType<typeof runcStarter> | undefined;
  try {
    gateway = GatewayProcess.start(apps, opts.runc ? { oci: { runtime: opts.runc } } : {});
    const { port } = await gateway.ready();
    const sock = join(dir, 'hello.sock');
    const viaGateway = new GatewayPath(gateway, port);
    const runs = new Map<ColdStartPath, Run>();
    const bareProcess = processStarter(COMMAND, HELLO_DIR);
    runs.set('bare-process', async () => ({ ms: await bareOnce(sock, bareProcess) }));
    runs.set('gateway-process', () => viaGateway.once('hello-process'));
    if (hasActivate) runs.set('socket-activate', async () => ({ ms: await socketActivateOnce(socketActivate, sock, COMMAND, HELLO_DIR) }));
    if (opts.runc) {
      // The bare runc run gets a bundle from the very spec the gateway's oci app is validated from.
      const config = validateConfig({ listen: { http: ':0' }, oci: { runtime: opts.runc }, apps: { 'hello-oci': apps['hello-oci'] } }, join(dir, 'c.json'));
      bareRunc = runcStarter(opts.runc, dir, config.apps['hello-oci']!);
      const starter = bareRunc;
      runs.set('bare-runc', async () => ({ ms: await bareOnce(sock, starter) }));
      runs.set('gateway-oci', () => viaGateway.once('hello-oci'));
    }
    if (opts.nspawn) runs.set('gateway-nspawn', () => viaGateway.once('hello-nspawn'));

    const order = [...runs.keys()];
    const samples = new Map(order.map((p) => [p, [] as number[]]));
    const logged = new Map(order.map((p) => [p, [] as LogLine[]]));
    for (let i = -opts.warmup; i < opts.runs; i++) {
      const shift = i + opts.warmup;
      for (let j = 0; j < order.length; j++) {
        const path = order[(j + shift) % order.length]!;
        const r = await runs.get(path)!();
        if (i < 0) continue;
        samples.get(path)!.push(r.ms);
        if (r.logged) logged.get(path)!.push(r.logged);
      }
    }

    const paths = order.map((path): ColdStartPathResult => {
      const samplesMs = samples.get(path)!;
      const lines = logged.get(path)!;
      if (lines.length === 0) return { path, samplesMs, summary: summarize(samplesMs) };
      const ls = lines.map((l) => ({ spawnMs: Number(l.spawnMs), firstByteMs: Number(l.firstByteMs) }));
      const log = { spawnMs: summarize(ls.map((l) => l.spawnMs)), firstByteMs: summarize(ls.map((l) => l.firstByteMs)), samples: ls };
      return { path, samplesMs, summary: summarize(samplesMs), logged: log };
    });
    const byPath = new Map(paths.map((p) => [p.path, p.summary]));
    const overheads = BASELINES.filter(([p, b]) => byPath.has(p) && byPath.has(b)).map(([path, over]): ColdStartOverhead => {
      const s = byPath.get(path)!;
      const b = byPath.get(over)!;
      return { path, over, p50Ms: s.p50 - b.p50, p99Ms: s.p99 - b.p99, ratioP50: s.p50 / b.p50, ratioP99: s.p99 / b.p99 };
    });
    return {
      runs: opts.runs,
      warmup: opts.warmup,
      command: ['node', 'examples/hello/server.mjs'],
      runc: opts.runc ?? null,
      socketActivate: hasActivate ? socketActivate : null,
      paths,
      overheads,
    };
  } finally {
    await gateway?.stop();
    bareRunc?.removeCgroups();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Markdown: the heading, the latency table per path, and the overhead of each path over its bare one. */
export function renderColdStart(r: ColdStartResult): string[] {
  const row = (name: string, s: Summary): string[] => [name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.min), ms(s.max)];
  const rows = r.paths.map((p) => row(PATH_LABELS[p.path], p.summary));
  for (const p of r.paths) {
    if (!p.logged) continue;
    rows.push(row(`${p.path}, its log: spawnMs`, p.logged.spawnMs), row(`${p.path}, its log: firstByteMs`, p.logged.firstByteMs));
  }
  return [
    `### Cold start, \`${r.command.join(' ')}\`, ${r.runs} runs per path in rotating order (ms, nearest-rank)`,
    markdownTable(['path', 'p50', 'p90', 'p99', 'min', 'max'], rows),
    markdownTable(
      ['overhead over the bare path', 'Δp50 ms', 'Δp99 ms', 'p50 ratio', 'p99 ratio'],
      r.overheads.map((o) => [`${o.path} vs ${o.over}`, ms(o.p50Ms), ms(o.p99Ms), ratio(o.ratioP50, 1), ratio(o.ratioP99, 1)]),
    ),
  ];
}

class GatewayPath {
  /** Log lines before this index belong to earlier runs. */
  private cursor = 0;

  constructor(
    private readonly gateway: GatewayProcess,
    private readonly port: number,
  ) {}

  /** One cold start of `app`; returns only once it has been idle-stopped again, ready for the next run. */
  async once(app: string): Promise<{ ms: number; logged: LogLine }> {
    const ms = await timedGet(this.port, `${app}.localhost`);
    const started = await this.gateway.waitFor((l) => l.app === app && l.result !== undefined, this.cursor);
    if (started.line.result !== 'ok') throw new Error(`gateway cold start of ${app} logged result ${String(started.line.result)}`);
    const stopped = await this.gateway.waitFor((l) => l.app === app && l.reason !== undefined, started.index + 1);
    if (stopped.line.reason !== 'idle') throw new Error(`${app} stopped for ${String(stopped.line.reason)}, expected idle`);
    this.cursor = stopped.index + 1;
    return { ms, logged: started.line };
  }
}
