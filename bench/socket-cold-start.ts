/**
 * Socket-mode cold start against a bare spawn of the same app on the same kind of pre-bound socket: the
 * clock runs from the client's connect to the first response byte on both paths. On the bare path the
 * bench spawns the app once the connection is established (it then waits in the accept queue, as it
 * does for the gateway); on the socket path the gateway sees the socket readable and starts the app. The
 * difference is what the gateway adds: its readiness wake-up and its start decision.
 *
 * The paths rotate run by run (process and, with runc as root, oci). Between socket runs the instance is stopped through the admin API, so
 * each run starts from "stopped" without depending on the idle rule.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { validateConfig } from '../src/config/schema.js';
import { closeFd, getSockName, inetListen } from '../src/native/index.js';
import { processStarter, runcStarter } from './bare.js';
import { GatewayProcess, HELLO_DIR, type LogLine } from './gateway-process.js';
import { markdownTable, ms, ratio, summarize, type Summary } from './stats.js';
import { freePort } from './wrk.js';

export type SocketColdPath = 'bare-process' | 'socket-process' | 'bare-runc' | 'socket-oci';

export interface SocketColdOverhead {
  readonly path: SocketColdPath;
  readonly over: SocketColdPath;
  /** Difference of percentiles (not a percentile of differences): the runs are not paired. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ratioP50: number;
}

export interface SocketColdStartResult {
  readonly runs: number;
  readonly warmup: number;
  readonly command: readonly string[];
  readonly runc: string | null;
  /** In rotation order. */
  readonly paths: ReadonlyArray<{ readonly path: SocketColdPath; readonly samplesMs: number[]; readonly summary: Summary }>;
  /** The gateway's own cold-start log lines per socket path (its phases, as it timed them), measured runs only. */
  readonly logged: Readonly<Partial<Record<SocketColdPath, readonly LogLine[]>>>;
  /** Bare paths: how long the spawn call itself took, per measured run, beside the gateway's logged spawnMs. */
  readonly bareSpawnMs: Readonly<Partial<Record<SocketColdPath, readonly number[]>>>;
  readonly overheads: readonly SocketColdOverhead[];
}

const COMMAND = ['/usr/bin/node', 'server.mjs'] as const;
const REQUEST = 'GET / HTTP/1.1\r\nHost: hello\r\nConnection: close\r\n\r\n';
/** Same pause after every run, on every path: lets the stopped instance's exit settle before the next clock. */
const BETWEEN_RUNS_MS = 20;
const RUN_TIMEOUT_MS = 15_000;
const BASELINES: ReadonlyArray<readonly [SocketColdPath, SocketColdPath]> = [
  ['socket-process', 'bare-process'],
  ['socket-oci', 'bare-runc'],
];

export const SOCKET_COLD_LABELS: Readonly<Record<SocketColdPath, string>> = {
  'bare-process': 'bare fork/exec on a pre-bound TCP socket (connect → first byte)',
  'socket-process': 'socket mode, runtime process, wakegate-held TCP socket (connect → first byte)',
  'bare-runc': 'bare `runc run` of the same bundle on a pre-bound TCP socket (connect → first byte)',
  'socket-oci': 'socket mode, runtime oci, wakegate-held TCP socket (connect → first byte)',
};

type Starter = ReturnType<typeof processStarter>;

export async function socketColdStart(opts: { readonly runs: number; readonly warmup: number; readonly runc?: string }): Promise<SocketColdStartResult> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-bench-sockcold-'));
  const devNull = openSync('/dev/null', 'r+');
  const fds: number[] = [];
  const spec = (runtime: 'process' | 'oci', port: number) => ({ listen: [`tcp:127.0.0.1:${port}`], command: COMMAND, dir: HELLO_DIR, runtime, idleTimeout: '1h' });
  const heldPorts = { process: await freePort(), oci: await freePort() };
  const apps: Record<string, unknown> = { 'hello-process': spec('process', heldPorts.process) };
  if (opts.runc) apps['hello-oci'] = spec('oci', heldPorts.oci);
  const gateway = GatewayProcess.start(apps, { admin: { listen: '127.0.0.1:0' }, ...(opts.runc && { oci: { runtime: opts.runc } }) });
  let bareRunc: ReturnType<typeof runcStarter> | undefined;
  try {
    await gateway.ready();
    const admin = await gateway.waitFor((l) => l.msg === 'admin listening');
    const adminPort = (admin.line.address as { port: number }).port;
    let cursor = 0;
    const logged = new Map<SocketColdPath, LogLine[]>();
    const spawnMs = new Map<SocketColdPath, number[]>();
    // The bare paths share one socket each, bound once like the gateway's: each run's app inherits it.
    const bare = (path: SocketColdPath, start: Starter): (() => Promise<number>) => {
      spawnMs.set(path, []);
      const fd = inetListen('127.0.0.1', 0, 511);
      fds.push(fd);
      const port = getSockName(fd).port;
      return async () => {
        let app: ReturnType<Starter> | undefined;
        try {
          return await firstByte(port, () => {
            const t0 = performance.now();
            app = start(fd, [devNull, devNull, 2]);
            spawnMs.get(path)!.push(performance.now() - t0);
          });
        } finally {
          await app?.stop();
        }
      };
    };
    const held = (path: SocketColdPath, app: string, port: number): (() => Promise<number>) => {
      logged.set(path, []);
      return async () => {
        const elapsed = await firstByte(port);
        const started = await gateway.waitFor((l) => l.app === app && l.result !== undefined, cursor);
        if (started.line.result !== 'ok') throw new Error(`socket-mode cold start of ${app} logged result ${String(started.line.result)}`);
        await adminStop(adminPort, app);
        const stopped = await gateway.waitFor((l) => l.app === app && l.reason !== undefined, started.index + 1);
        cursor = stopped.index + 1;
        logged.get(path)!.push(started.line);
        return elapsed;
      };
    };
    const runs = new Map<SocketColdPath, () => Promise<number>>([
      ['bare-process', bare('bare-process', processStarter(COMMAND, HELLO_DIR))],
      ['socket-process', held('socket-process', 'hello-process', heldPorts.process)],
    ]);
    if (opts.runc) {
      // The bare runc run gets a bundle from the very spec the gateway's oci app is validated from.
      const config = validateConfig({ listen: { http: ':0' }, oci: { runtime: opts.runc }, apps: { 'hello-oci': apps['hello-oci'] } }, join(dir, 'c.json'));
      bareRunc = runcStarter(opts.runc, dir, config.apps['hello-oci']!);
      runs.set('bare-runc', bare('bare-runc', bareRunc));
      runs.set('socket-oci', held('socket-oci', 'hello-oci', heldPorts.oci));
    }
    const order = [...runs.keys()];
    const samples = new Map(order.map((p) => [p, [] as number[]]));
    for (let i = -opts.warmup; i < opts.runs; i++) {
      for (let j = 0; j < order.length; j++) {
        const path = order[(i + opts.warmup + j) % order.length]!;
        const v = await runs.get(path)!();
        await sleep(BETWEEN_RUNS_MS);
        if (i >= 0) samples.get(path)!.push(v);
      }
    }
    // The warm-up runs logged lines too; keep the measured runs' only.
    for (const lines of [...logged.values(), ...spawnMs.values()]) lines.splice(0, opts.warmup);
    const paths = order.map((path) => ({ path, samplesMs: samples.get(path)!, summary: summarize(samples.get(path)!) }));
    const byPath = new Map(paths.map((p) => [p.path, p.summary]));
    const overheads = BASELINES.filter(([p, b]) => byPath.has(p) && byPath.has(b)).map(([path, over]): SocketColdOverhead => {
      const s = byPath.get(path)!;
      const b = byPath.get(over)!;
      return { path, over, p50Ms: s.p50 - b.p50, p99Ms: s.p99 - b.p99, ratioP50: s.p50 / b.p50 };
    });
    return { runs: opts.runs, warmup: opts.warmup, command: ['node', 'examples/hello/server.mjs'], runc: opts.runc ?? null, paths, logged: Object.fromEntries(logged), bareSpawnMs: Object.fromEntries(spawnMs), overheads };
  } finally {
    await gateway.stop();
    bareRunc?.removeCgroups();
    for (const fd of fds) closeFd(fd);
    closeSync(devNull);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Connects, sends one request and resolves with the ms from connect() to the first response byte.
 * `onConnected` runs once the kernel has established the connection (it waits in the accept queue).
 */
function firstByte(port: number, onConnected?: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const timer = setTimeout(() => fail(new Error(`no response byte on port ${port} within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('connect', () => {
      try {
        onConnected?.();
      } catch (err) {
        fail(err as Error);
      }
    });
    socket.write(REQUEST);
    socket.once('data', (chunk: Buffer) => {
      const elapsed = performance.now() - t0;
      clearTimeout(timer);
      socket.destroy();
      const status = chunk.toString('latin1', 0, 12);
      if (status === 'HTTP/1.1 200') resolve(elapsed);
      else reject(new Error(`cold start on port ${port} answered ${JSON.stringify(status)}`));
    });
    socket.once('error', fail);
  });
}

/** POST /apps/<app>/stop; the admin answers once the instance has stopped. */
async function adminStop(port: number, app: string): Promise<void> {
  const client = new Client(`http://127.0.0.1:${port}`);
  try {
    const res = await client.request({ path: `/apps/${app}/stop`, method: 'POST' });
    const body = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`admin stop answered ${res.statusCode}: ${body}`);
  } finally {
    await client.close();
  }
}

export function renderSocketColdStart(r: SocketColdStartResult): string[] {
  const row = (name: string, s: Summary): string[] => [name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.min), ms(s.max)];
  const rows = r.paths.map((p) => row(SOCKET_COLD_LABELS[p.path], p.summary));
  for (const [path, v] of Object.entries(r.bareSpawnMs)) rows.push(row(`${path}: the spawn call`, summarize(v ?? [])));
  for (const [path, lines] of Object.entries(r.logged)) {
    for (const key of ['spawnMs', 'acceptMs', 'firstByteMs']) {
      const v = (lines ?? []).map((l) => Number(l[key])).filter(Number.isFinite);
      if (v.length > 0) rows.push(row(`${path}, its log: ${key}`, summarize(v)));
    }
  }
  return [
    `### Socket-mode cold start, \`${r.command.join(' ')}\`, ${r.runs} runs per path in rotating order (ms, nearest-rank)`,
    'The clock runs from connect() to the first response byte. Bare paths: the bench spawns the app once the connection is ' +
      'established (it waits in the accept queue, as for the gateway). Socket paths: the gateway sees the socket readable and ' +
      'starts the app; between runs the admin API stops it.',
    markdownTable(['path', 'p50', 'p90', 'p99', 'min', 'max'], rows),
    markdownTable(
      ['socket mode over the bare path (goal: Δp50 ≤ +2 ms)', 'Δp50 ms', 'Δp99 ms', 'p50 ratio'],
      r.overheads.map((o) => [`${o.path} vs ${o.over}`, ms(o.p50Ms), ms(o.p99Ms), ratio(o.ratioP50, 1)]),
    ),
  ];
}
