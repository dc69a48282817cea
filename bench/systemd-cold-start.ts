/**
 * Cold start of the systemd runtime (a spawned process placed in a transient scope over D-Bus) against the
 * process runtime, under a booted systemd 252 (the test harness's machine, test/helpers/systemd-machine.ts):
 * one socket-activated gateway inside it serves two apps on examples/hello, `runtime: process` and
 * `runtime: systemd`. Both are measured on the host's clock the same way (a new connection, send → first
 * header, through the machine's shared network), in alternating order, and stopped between runs through the
 * admin API; beside that, what the gateway recorded of each cold start (its admin snapshot's spawnMs).
 */
import { request } from 'node:http';
import { timedGet } from './timed-get.js';
import { Machine, MACHINE_TOOLS } from '../test/helpers/systemd-machine.js';
import { freePorts, installWakegate, journal, type Ports } from '../test/helpers/systemd-wakegate.js';
import { missingTools } from '../test/helpers/tools.js';
import { markdownTable, ms, ratio, summarize, type Summary } from './stats.js';

export type SystemdColdPath = 'process' | 'systemd';

export interface SystemdColdPathResult {
  readonly path: SystemdColdPath;
  readonly samplesMs: number[];
  readonly summary: Summary;
  /** The gateway's own record of each run: trigger to runtime.start returning, and to first byte. */
  readonly spawnMs: Summary;
  readonly firstByteMs: Summary;
}

export type SystemdColdStartResult =
  | { readonly status: 'skipped'; readonly reason: string }
  | {
    readonly status: 'ok';
    readonly runs: number;
    readonly warmup: number;
    /** In the order of the first measured run. */
    readonly paths: readonly SystemdColdPathResult[];
    /** systemd − process, difference of percentiles (the runs are not paired). */
    readonly deltaP50Ms: number;
    readonly deltaSpawnP50Ms: number;
  };

const APP: Readonly<Record<SystemdColdPath, string>> = { process: 'hello-process', systemd: 'hello-systemd' };

/** A long idleTimeout: the admin API's stop, not the idle timer, ends each run. */
function config(ports: Ports): string {
  const app = (path: SystemdColdPath) => `  ${APP[path]}:
    hosts: ["${APP[path]}.localhost"]
    command: ["node", "server.mjs"]
    dir: /opt/wakegate/examples/hello
    runtime: ${path}
`;
  return `listen: { http: "127.0.0.1:${ports.http}" }
admin: { listen: "127.0.0.1:${ports.admin}" }
runtimeDir: /run/wakegate
shutdownTimeout: 5s
defaults: { idleTimeout: 10m, startTimeout: 20s }
apps:
${app('process')}${app('systemd')}`;
}

export async function systemdColdStart(opts: { readonly runs: number; readonly warmup: number; readonly progress: (m: string) => void }): Promise<SystemdColdStartResult> {
  const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting systemd in a machine needs root');
  if (skip) {
    opts.progress(`systemd-runtime cold start left out: ${skip}`);
    return { status: 'skipped', reason: skip };
  }
  opts.progress(`systemd-runtime cold start: ${opts.runs} runs each of process and systemd, under systemd in nspawn`);
  const machine = await Machine.boot();
  try {
    const [http, admin, echo] = await freePorts(3);
    const ports: Ports = { http: http!, admin: admin!, echo: echo! };
    await installWakegate(machine, ports);
    machine.writeFile('/etc/wakegate/wakegate.yaml', config(ports));
    await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
    const order: SystemdColdPath[] = ['process', 'systemd'];
    const samples = new Map(order.map((p) => [p, [] as number[]]));
    const logged = new Map(order.map((p) => [p, [] as Array<{ spawnMs: number; firstByteMs: number }>]));
    for (let i = -opts.warmup; i < opts.runs; i++) {
      for (let j = 0; j < order.length; j++) {
        const path = order[(j + i + opts.warmup) % order.length]!;
        const r = await once(ports, APP[path]).catch(async (err: Error) => { throw new Error(`${err.message}\njournal:\n${await journal(machine)}`); });
        if (i < 0) continue;
        samples.get(path)!.push(r.ms);
        logged.get(path)!.push(r.logged);
      }
    }
    const paths = order.map((path): SystemdColdPathResult => {
      const lines = logged.get(path)!;
      return {
        path,
        samplesMs: samples.get(path)!,
        summary: summarize(samples.get(path)!),
        spawnMs: summarize(lines.map((l) => l.spawnMs)),
        firstByteMs: summarize(lines.map((l) => l.firstByteMs)),
      };
    });
    const [proc, sd] = paths as [SystemdColdPathResult, SystemdColdPathResult];
    return {
      status: 'ok',
      runs: opts.runs,
      warmup: opts.warmup,
      paths,
      deltaP50Ms: sd.summary.p50 - proc.summary.p50,
      deltaSpawnP50Ms: sd.spawnMs.p50 - proc.spawnMs.p50,
    };
  } finally {
    await machine.shutdown();
  }
}

/** One cold start of `app`, then its stop through the admin API, which answers once the instance is gone. */
async function once(ports: Ports, app: string): Promise<{ ms: number; logged: { spawnMs: number; firstByteMs: number } }> {
  const took = await timedGet(ports.http, `${app}.localhost`);
  const status = await admin(ports.admin, 'GET', `/apps/${app}`);
  const cold = status.lastColdStart;
  if (cold?.result !== 'ok' || typeof cold.spawnMs !== 'number' || typeof cold.firstByteMs !== 'number') {
    throw new Error(`${app}: unexpected lastColdStart ${JSON.stringify(cold)}`);
  }
  const stopped = await admin(ports.admin, 'POST', `/apps/${app}/stop`);
  if (stopped.state !== 'stopped') throw new Error(`${app}: state ${String(stopped.state)} after the admin stop`);
  return { ms: took, logged: { spawnMs: cold.spawnMs, firstByteMs: cold.firstByteMs } };
}

interface AdminView {
  readonly state?: string;
  readonly lastColdStart?: { readonly result?: string; readonly spawnMs?: number | null; readonly firstByteMs?: number | null } | null;
}

function admin(port: number, method: 'GET' | 'POST', path: string): Promise<AdminView> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as AdminView) : reject(new Error(`admin ${method} ${path}: ${res.statusCode} ${body}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`admin ${method} ${path}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

export function renderSystemdColdStart(r: SystemdColdStartResult): string[] {
  const heading = '### Cold start, runtime systemd vs process (under systemd 252)';
  if (r.status === 'skipped') return [heading, `Skipped: ${r.reason}.`];
  const row = (name: string, s: Summary): string[] => [name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.min), ms(s.max)];
  const rows = r.paths.flatMap((p) => [
    row(`runtime ${p.path} (send → first header)`, p.summary),
    row(`runtime ${p.path}, gateway's spawnMs`, p.spawnMs),
    row(`runtime ${p.path}, gateway's firstByteMs`, p.firstByteMs),
  ]);
  return [
    heading,
    `One gateway in a booted machine, \`node examples/hello/server.mjs\` on both runtimes, ${r.runs} runs each in alternating order, stopped between runs through the admin API (ms, nearest-rank).`,
    markdownTable(['path', 'p50', 'p90', 'p99', 'min', 'max'], rows),
    `Δp50 systemd − process: ${ms(r.deltaP50Ms)} ms (spawnMs: ${ms(r.deltaSpawnP50Ms)} ms).`,
  ];
}

/** The [scenario, wakegate, baseline, ratio] row of run.ts's summary. */
export function systemdColdStartSummaryRows(r: SystemdColdStartResult): string[][] {
  if (r.status !== 'ok') return [];
  const [proc, sd] = r.paths as [SystemdColdPathResult, SystemdColdPathResult];
  return [[
    'cold start p50, systemd scope vs process, under systemd (ms)',
    `${ms(sd.summary.p50)} (Δ ${ms(r.deltaP50Ms)})`,
    `${ms(proc.summary.p50)} (runtime process)`,
    ratio(sd.summary.p50, proc.summary.p50),
  ]];
}
