/**
 * Warm throughput: the same app served directly, through `wakegate run`, and through nginx, each loaded by
 * wrk in the same run, with the proxy's CPU per request read from /proc. The app is already running on
 * every path, so this is the steady-state cost of the L7 proxy, not of activation.
 *
 * All three processes (wrk, the proxy, the app) share this machine's CPUs (2 on the reference host), so
 * a proxy's req/s also drops by what it takes from the app; CPU µs per request is the cleaner number.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeFd, unixListen } from '../src/native/index.js';
import { processStarter } from './bare.js';
import { GatewayProcess, HELLO_DIR, ROOT } from './gateway-process.js';
import { Nginx, childPids, nginxBinary } from './nginx.js';
import { markdownTable } from './stats.js';
import { freePort, toolVersion, untilServed, wrk, type WrkResult } from './wrk.js';

export interface ThroughputOptions {
  readonly quick: boolean;
}

export type PathName = 'direct' | 'gateway' | 'nginx';
export type PathResult =
  | { readonly status: 'ok'; readonly wrk: WrkResult; readonly proxyCpuUsPerRequest: number | null; readonly appCpuUsPerRequest: number }
  | { readonly status: 'absent'; readonly missing: string }
  | { readonly status: 'failed'; readonly error: string };

export interface ThroughputResult {
  readonly quick: boolean;
  readonly durationS: number;
  readonly warmupS: number;
  readonly threads: number;
  readonly connections: number;
  /** CPUs shared by wrk, proxy and app. */
  readonly cpus: number;
  /** /proc/<pid>/stat counts CPU time in these ticks: they bound the CPU figures' resolution. */
  readonly clockTicksPerS: number;
  readonly tools: { readonly wrk: string; readonly nginx: string; readonly systemdSocketActivate: string; readonly node: string };
  readonly apps: ReadonlyArray<{ readonly name: string; readonly file: string; readonly paths: Readonly<Record<PathName, PathResult>> }>;
  readonly wallMs: number;
  /** Others' load skews every number here; the 1-minute load average at start and end shows if there was any. */
  readonly loadAverage1m: { readonly before: number; readonly after: number };
}

const APPS = [
  { name: 'hello world', file: join(HELLO_DIR, 'server.mjs') },
  { name: '~1 ms CPU per request', file: join(ROOT, 'bench/apps/cpu-1ms.mjs') },
] as const;
const PATHS: readonly PathName[] = ['direct', 'gateway', 'nginx'];
const HOST = 'hello.localhost';
// The node running the bench, for every path, so the app binary is the same everywhere.
const NODE = process.execPath;
const APP_ENV_PATH = process.env.PATH ?? '/usr/bin:/bin';

interface Load {
  readonly url: string;
  readonly headers: readonly string[];
  readonly proxyPids: () => number[];
  readonly appPid: number;
}

export async function throughput(opts: ThroughputOptions): Promise<ThroughputResult> {
  const t0 = Date.now();
  const loadBefore = os.loadavg()[0]!;
  const durationS = opts.quick ? 2 : 10;
  const warmupS = opts.quick ? 1 : 2;
  const tools = {
    wrk: toolVersion('wrk', ['-v']),
    nginx: toolVersion(nginxBinary(), ['-v']),
    systemdSocketActivate: toolVersion('systemd-socket-activate', ['--version']),
    node: process.version,
  };
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

  // Warm-up first (JIT, connection pools, nginx keepalive), then the measured run bracketed by CPU reads.
  const measure = async (load: Load): Promise<PathResult> => {
    const run = (s: number): Promise<WrkResult> => wrk({ url: load.url, durationS: s, threads: 1, connections: 50, headers: load.headers });
    await run(warmupS);
    const proxy0 = cpuTicks(load.proxyPids());
    const app0 = cpuTicks([load.appPid]);
    const w = await run(durationS);
    const perRequest = (ticks: number): number => (ticks * 1e6) / hz / w.requests;
    const proxy = load.proxyPids().length > 0 ? perRequest(cpuTicks(load.proxyPids()) - proxy0) : null;
    return { status: 'ok', wrk: w, proxyCpuUsPerRequest: proxy, appCpuUsPerRequest: perRequest(cpuTicks([load.appPid]) - app0) };
  };

  const apps = [];
  for (const app of APPS) {
    const paths = {} as Record<PathName, PathResult>;
    for (const path of PATHS) {
      const missing = [
        tools.wrk === 'absent' && 'wrk',
        path === 'nginx' && tools.nginx === 'absent' && 'nginx',
        path === 'direct' && tools.systemdSocketActivate === 'absent' && 'systemd-socket-activate',
      ].find((m) => typeof m === 'string');
      try {
        paths[path] = missing ? { status: 'absent', missing } : await RUNNERS[path](app.file, measure);
      } catch (err) {
        // One broken path should not lose the others' numbers; the table shows the failure.
        paths[path] = { status: 'failed', error: err instanceof Error ? err.message : String(err) };
      }
    }
    apps.push({ name: app.name, file: app.file.slice(ROOT.length), paths });
  }
  const loadAverage1m = { before: loadBefore, after: os.loadavg()[0]! };
  const common = { quick: opts.quick, durationS, warmupS, threads: 1, connections: 50, cpus: os.availableParallelism() };
  return { ...common, clockTicksPerS: hz, tools, apps, wallMs: Date.now() - t0, loadAverage1m };
}

type Runner = (file: string, measure: (load: Load) => Promise<PathResult>) => Promise<PathResult>;

const RUNNERS: Readonly<Record<PathName, Runner>> = {
  // wrk speaks only TCP: systemd's own activator hands the app a TCP socket as fd 3 with a clean env (-E),
  // then execs the app in its own pid on the first connection.
  async direct(file, measure) {
    const port = await freePort();
    const args = ['-l', `127.0.0.1:${port}`, '--fdname=hello', '-E', `PATH=${APP_ENV_PATH}`, NODE, file];
    const child = spawn('systemd-socket-activate', args, { cwd: dirname(file), stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      const url = `http://127.0.0.1:${port}/`;
      await untilServed(url);
      return await measure({ url, headers: [], proxyPids: () => [], appPid: child.pid! });
    } finally {
      await stopChild(child);
    }
  },
  async gateway(file, measure) {
    const app = { hosts: [HOST], command: [NODE, basename(file)], dir: dirname(file), runtime: 'process', idleTimeout: '1h' };
    // Per-request log lines would be parsed by this process, on the same CPUs; they are off by default anyway.
    const gateway = GatewayProcess.start({ hello: app }, { log: { requests: false } });
    try {
      const { port } = await gateway.ready();
      const url = `http://127.0.0.1:${port}/`;
      await untilServed(url, HOST); // the cold start happens here, outside every measurement
      const [appPid] = childPids(gateway.pid);
      if (appPid === undefined) throw new Error('no app instance under the gateway after a request');
      return await measure({ url, headers: [`Host: ${HOST}`], proxyPids: () => [gateway.pid], appPid });
    } finally {
      await gateway.stop();
    }
  },
  // The app on a Unix socket exactly as bare.ts starts it, and nginx keeping upstream connections alive,
  // which is nginx at its best for this test.
  async nginx(file, measure) {
    const dir = mkdtempSync(join(os.tmpdir(), 'wg-bench-tp-'));
    const socketPath = join(dir, 'app.sock');
    const fd = unixListen(socketPath, 511);
    const devNull = openSync('/dev/null', 'r+');
    let app: ReturnType<ReturnType<typeof processStarter>> | undefined;
    let nginx: Nginx | undefined;
    try {
      app = processStarter([NODE, basename(file)], dirname(file))(fd, [devNull, devNull, 2]);
      const proxy = (nginx = await Nginx.start(dir, await freePort(), socketPath));
      const url = `http://127.0.0.1:${proxy.port}/`;
      await untilServed(url);
      // Workers are re-read at each CPU sample: nginx would replace one that died.
      return await measure({ url, headers: [], proxyPids: () => [proxy.masterPid, ...proxy.workers()], appPid: app.child.pid });
    } finally {
      await nginx?.stop();
      await app?.stop();
      closeSync(devNull);
      closeFd(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export function renderThroughput(r: ThroughputResult): string[] {
  const t = r.tools;
  const intro = [
    `### Warm throughput: \`wrk -t${r.threads} -c${r.connections} -d${r.durationS}s --latency\` per path, after a ${r.warmupS} s warm-up`,
    `wrk, the proxy and the app share ${r.cpus} CPUs. direct: the app on a TCP socket from systemd-socket-activate; ` +
      `gateway: \`wakegate run\`, runtime process; nginx: 1 worker, keepalive 64 to the app's Unix socket. ` +
      `CPU per request: utime+stime from /proc/<pid>/stat (${r.clockTicksPerS} Hz) over the measured run. ` +
      `Load average (1 min) ${r.loadAverage1m.before.toFixed(2)} before, ${r.loadAverage1m.after.toFixed(2)} after. ` +
      `wrk: ${t.wrk.replace(/\s*Copyright.*$/, '')}; nginx: ${t.nginx}; systemd-socket-activate: ${t.systemdSocketActivate}; node: ${t.node}.`,
  ].join('\n\n');
  return [intro, ...r.apps.map((app) => `**${app.name}** (\`${app.file}\`)\n\n${appTable(app.paths)}`)];
}

function appTable(paths: Readonly<Record<PathName, PathResult>>): string {
  const direct = paths.direct;
  const rows = PATHS.map((path): string[] => {
    const p = paths[path];
    if (p.status !== 'ok') return [path, p.status === 'absent' ? `absent (${p.missing})` : `failed: ${p.error.split('\n')[0]}`, '', '', '', '', '', ''];
    const w = p.wrk;
    const e = w.socketErrors;
    const errors = w.non2xx3xx + e.connect + e.read + e.write + e.timeout;
    return [
      path,
      Math.round(w.reqPerSec).toLocaleString('en-US'),
      direct.status === 'ok' ? `${((100 * w.reqPerSec) / direct.wrk.reqPerSec).toFixed(0)}%` : '-',
      (w.latencyUs.p50 / 1000).toFixed(2),
      (w.latencyUs.p99 / 1000).toFixed(2),
      errors === 0 ? '0' : `${errors} (non-2xx ${w.non2xx3xx}, connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout})`,
      p.proxyCpuUsPerRequest === null ? '-' : p.proxyCpuUsPerRequest.toFixed(1),
      p.appCpuUsPerRequest.toFixed(1),
    ];
  });
  return markdownTable(['path', 'req/s', 'vs direct', 'p50 ms', 'p99 ms', 'errors', 'proxy CPU µs/req', 'app CPU µs/req'], rows);
}

/** utime + stime, all threads, in clock ticks (fields 14 and 15, counted after the parenthesised comm). */
export function cpuTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    sum += Number(fields[11]) + Number(fields[12]);
  }
  return sum;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  // Unref'd, as in Nginx.stop: a pending grace timer would hold the bench open for 5 s after the exit.
  if ((await Promise.race([exited.then(() => false), sleep(5000, true, { ref: false })])) === true) child.kill('SIGKILL');
  await exited;
}
