/**
 * Restart under load (issue 11): a client sends a request on a new connection every 5 ms, and the
 * gateway is restarted under it, over and over. Counted per restart: requests refused (ECONNREFUSED),
 * failed (reset, error status, no answer) and answered.
 * - systemd: wakegate.service under a booted systemd 252 (the test harness, test/helpers/systemd-machine.ts),
 *   the front from wakegate.socket and the app sockets from the fd store; `systemctl restart`.
 * - plain (the baseline of the issue): the gateway binds its own sockets; SIGTERM, wait for its exit,
 *   start a new one by hand, wait until it logs that it listens.
 * - systemd runtime (issue 12): the same machine, the app on `runtime: systemd`: its instance lives in a
 *   scope, is left running by the stopping gateway and adopted by the next one.
 * The first two run the same app (examples/hello, process runtime), all three the same load and the same
 * number of restarts. Cold starts caused are counted from each new gateway's wakegate_cold_starts_total.
 */
import { performance } from 'node:perf_hooks';
import { RestartLoad, since, type LoadTally } from '../test/helpers/restart-load.js';
import { Machine, MACHINE_TOOLS } from '../test/helpers/systemd-machine.js';
import { freePorts, get, installWakegate, wakegateConfig, type Ports } from '../test/helpers/systemd-wakegate.js';
import { missingTools } from '../test/helpers/tools.js';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';
import { markdownTable, ms, summarize, type Summary } from './stats.js';

export type RestartCounts = Omit<LoadTally, 'failures'>;

export interface RestartPath {
  readonly status: 'ok';
  readonly restarts: number;
  /** The load's counts across each restart (from just before it to the first answer after it, plus a settle). */
  readonly perRestart: readonly RestartCounts[];
  readonly total: RestartCounts;
  /** Wall time of each restart command (systemctl restart; kill + start until listening). */
  readonly restartMs: Summary;
  /** The first few failed requests' reasons. */
  readonly failures: readonly string[];
  /** Cold starts the restarts caused (the app started again); undefined where no admin API tells. */
  readonly coldStarts?: number;
}

export type MaybePath = RestartPath | { readonly status: 'skipped'; readonly reason: string };

export interface RestartResult {
  readonly intervalMs: number;
  readonly systemd: MaybePath;
  /** The same machine and units, the app on runtime systemd: handed over across each restart. */
  readonly handover: MaybePath;
  readonly plain: RestartPath;
}

const INTERVAL_MS = 5;
const HOST = 'hello.localhost';
/** Answers to wait for after each restart before the next one, so that each restart is measured alone. */
const SETTLE_ANSWERS = 40;

export async function restartUnderLoad(opts: { readonly quick: boolean; readonly progress: (m: string) => void }): Promise<RestartResult> {
  const restarts = opts.quick ? 2 : 10;
  opts.progress(`restart under load: ${restarts} plain restarts (the gateway binds its own sockets)`);
  const plain = await plainRestarts(restarts);
  const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting systemd in a machine needs root');
  if (skip) opts.progress(`restart under load under systemd left out: ${skip}`);
  else opts.progress(`restart under load: ${restarts} systemctl restarts (socket unit + fd store, systemd in nspawn)`);
  const [systemd, handover]: MaybePath[] = skip ? [{ status: 'skipped', reason: skip }, { status: 'skipped', reason: skip }] : await systemdRestarts(restarts);
  return { intervalMs: INTERVAL_MS, systemd: systemd!, handover: handover!, plain };
}

async function measure(port: number, restarts: number, restart: () => Promise<void>, coldStarts?: () => Promise<number>): Promise<RestartPath> {
  const load = new RestartLoad({ port, hostHeader: HOST, newConnectionClients: 1, keepAliveClients: 0, intervalMs: INTERVAL_MS });
  const perRestart: RestartCounts[] = [];
  const took: number[] = [];
  let failures: string[] = [];
  let caused = 0;
  try {
    await answered(load, SETTLE_ANSWERS);
    for (let i = 0; i < restarts; i++) {
      const before = load.snapshot();
      const started = performance.now();
      await restart();
      took.push(performance.now() - started);
      await answered(load, SETTLE_ANSWERS);
      perRestart.push(since(before, load.snapshot()));
      if (coldStarts) caused += await coldStarts();
    }
  } finally {
    failures = (await load.stop()).failures;
  }
  const total = perRestart.reduce((a, b) => ({ ok: a.ok + b.ok, refused: a.refused + b.refused, failed: a.failed + b.failed, retried: a.retried + b.retried }), { ok: 0, refused: 0, failed: 0, retried: 0 });
  return { status: 'ok', restarts, perRestart, total, restartMs: summarize(took), failures, ...(coldStarts && { coldStarts: caused }) };
}

/** Bounded: a path that stops answering is a bench failure, not a hang. */
async function answered(load: RestartLoad, count: number, timeoutMs = 60_000): Promise<void> {
  const target = load.tally.ok + count;
  const deadline = Date.now() + timeoutMs;
  while (load.tally.ok < target) {
    if (Date.now() > deadline) throw new Error(`restart bench: no ${count} answers within ${timeoutMs} ms (${JSON.stringify(load.tally)})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function plainRestarts(restarts: number): Promise<RestartPath> {
  const [port] = await freePorts(1);
  const apps = { hello: { hosts: [HOST], command: ['node', 'server.mjs'], dir: HELLO_DIR, runtime: 'process' } };
  const extra = { listen: { http: `127.0.0.1:${port}` } };
  let gateway = GatewayProcess.start(apps, extra);
  try {
    await gateway.ready();
    return await measure(port!, restarts, async () => {
      await gateway.stop();
      gateway = GatewayProcess.start(apps, extra);
      await gateway.ready();
    });
  } finally {
    await gateway.stop();
  }
}

/** The process-runtime path, then (one unmeasured restart into the new config) the systemd-runtime one. */
async function systemdRestarts(restarts: number): Promise<[RestartPath, RestartPath]> {
  const machine = await Machine.boot();
  try {
    const [http, admin, echo] = await freePorts(3);
    const ports: Ports = { http: http!, admin: admin!, echo: echo! };
    await installWakegate(machine, ports);
    await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
    const first = await get(ports.http, HOST);
    if (first.status !== 200) throw new Error(`restart bench: the socket-activated gateway answered ${first.status}: ${first.body}`);
    const restart = async (): Promise<void> => void (await machine.systemctl('restart', 'wakegate.service'));
    const coldStarts = (): Promise<number> => coldStartsOf(ports.admin);
    const processPath = await measure(ports.http, restarts, restart, coldStarts);
    machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, { runtime: 'systemd' }));
    await restart();
    // Both paths' restarts within StartLimitIntervalSec would pass the shipped StartLimitBurst.
    await machine.systemctl('reset-failed', 'wakegate.service');
    return [processPath, await measure(ports.http, restarts, restart, coldStarts)];
  } finally {
    await machine.shutdown();
  }
}

/** The cold starts the gateway on the admin port has made since it started (the sum over apps and results). */
async function coldStartsOf(adminPort: number): Promise<number> {
  const text = (await get(adminPort, `127.0.0.1:${adminPort}`, '/metrics')).body;
  return [...text.matchAll(/^wakegate_cold_starts_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

export function renderRestart(r: RestartResult): string[] {
  const rows = (name: string, p: MaybePath): string[][] => {
    if (p.status === 'skipped') return [[name, `skipped: ${p.reason}`, '', '', '', '', '']];
    const per = (k: keyof RestartCounts) => (p.total[k] / p.restarts).toFixed(1);
    const cold = p.coldStarts === undefined ? '-' : `${p.coldStarts} (${(p.coldStarts / p.restarts).toFixed(1)})`;
    return [[name, String(p.restarts), `${p.total.refused} (${per('refused')})`, `${p.total.failed} (${per('failed')})`, cold, `${p.total.ok}`, ms(p.restartMs.p50)]];
  };
  return [
    '### Restart under load',
    `One client, a request on a new connection every ${r.intervalMs} ms; counts over all restarts (per restart in brackets).`,
    markdownTable(
      ['path', 'restarts', 'refused', 'failed', 'cold starts caused', 'answered', 'restart p50 (ms)'],
      [
        ...rows('systemd: socket unit + fd store, `systemctl restart`, runtime process', r.systemd),
        ...rows('systemd, runtime systemd: tenant handed over', r.handover),
        ...rows('plain: SIGTERM, start again, own bind', r.plain),
      ],
    ),
  ];
}

/** The [scenario, wakegate, baseline, ratio] row of run.ts's summary. */
export function restartSummaryRows(r: RestartResult): string[][] {
  if (r.systemd.status !== 'ok') return [];
  const s = r.systemd;
  const p = r.plain;
  return [[
    'restart under load: refused, failed per restart',
    `${(s.total.refused / s.restarts).toFixed(1)}, ${(s.total.failed / s.restarts).toFixed(1)} (fd store)`,
    `${(p.total.refused / p.restarts).toFixed(1)}, ${(p.total.failed / p.restarts).toFixed(1)} (plain restart)`,
    '-',
  ], ...(r.handover.status === 'ok' && s.coldStarts !== undefined ? [[
    'restart under load: cold starts caused per restart',
    `${((r.handover.coldStarts ?? 0) / r.handover.restarts).toFixed(1)} (runtime systemd, handed over)`,
    `${(s.coldStarts / s.restarts).toFixed(1)} (runtime process)`,
    '-',
  ]] : [])];
}
