/**
 * Socket mode, warm: the same app on a socket wakegate holds (`apps.<name>.listen`) against the same app on
 * a socket it was simply given, loaded by wrk in the same run; then nginx in front of each of the two. In
 * socket mode the gateway hands the socket over and steps out of the data path, so the goal is parity
 * (≥ 0.97×) and a gateway CPU per request of about 0.
 *
 * Every target is up for the whole scenario (an idle one costs nothing), so each pair is measured under the
 * same background. The pairs run in A B B A order, so that a drift in the machine's load lands on both sides.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { closeFd, inetListen, unixListen } from '../src/native/index.js';
import { processStarter } from './bare.js';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';
import { Nginx, nginxBinary } from './nginx.js';
import { clockTicksPerS, cpuTicks, instanceOf, pin, pinning } from './proc-cpu.js';
import { freePort, toolVersion, untilServed, wrk, type WrkResult } from './wrk.js';

export type SocketPathName = 'direct' | 'socket' | 'nginx-direct' | 'nginx-socket';

/** One wrk run on one path, with the CPU each process used over it (ticks; null where there is no such process). */
export interface SocketRun {
  readonly wrk: WrkResult;
  readonly gatewayTicks: number | null;
  readonly nginxTicks: number | null;
  readonly appTicks: number;
}

export type SocketPathResult =
  | {
      readonly status: 'ok';
      readonly runs: readonly SocketRun[];
      /** The median run's: robust to a burst of load from elsewhere on a shared host. */
      readonly reqPerSec: number;
      /** p50: the median of the runs' p50s; p99: the worst run's (runs cannot be merged into one histogram). */
      readonly latencyUs: { readonly p50: number; readonly p99: number };
      readonly errors: number;
      /** The wakegate process over the runs (null on the direct paths, where there is none). */
      readonly gatewayCpuUsPerRequest: number | null;
      /** nginx master and workers (null without nginx). */
      readonly nginxCpuUsPerRequest: number | null;
      readonly appCpuUsPerRequest: number;
    }
  | { readonly status: 'absent'; readonly missing: string }
  | { readonly status: 'failed'; readonly error: string };

export interface SocketThroughputResult {
  readonly quick: boolean;
  readonly durationS: number;
  readonly warmupS: number;
  /** Each path is measured once per round; odd rounds go in reverse order. */
  readonly rounds: number;
  readonly threads: number;
  readonly connections: number;
  readonly cpus: number;
  readonly clockTicksPerS: number;
  readonly app: string;
  readonly tools: { readonly wrk: string; readonly nginx: string };
  /** The first round's order. */
  readonly order: readonly SocketPathName[];
  readonly paths: Readonly<Record<SocketPathName, SocketPathResult>>;
  /**
   * Each wakegate path over its baseline, round by round: the two ran back to back in the same round, so a
   * drift in the machine's load between rounds cancels out. The headline is their median.
   */
  readonly pairedRatios: Readonly<Partial<Record<SocketPathName, readonly number[]>>>;
  /** With 2 CPUs or more, wrk runs on its own CPUs and everything it loads on the others; null on one CPU. */
  readonly pinned: { readonly wrk: string; readonly targets: string } | null;
  readonly loadAverage1m: { readonly before: number; readonly after: number };
  readonly wallMs: number;
}

/** Each wakegate path and the baseline it is compared with. */
export const SOCKET_BASELINES: ReadonlyArray<readonly [SocketPathName, SocketPathName]> = [
  ['socket', 'direct'],
  ['nginx-socket', 'nginx-direct'],
];
const ORDER: readonly SocketPathName[] = ['direct', 'socket', 'nginx-socket', 'nginx-direct'];
const NODE = process.execPath;
const COMMAND = [NODE, 'server.mjs'];
const THREADS = 1;
const CONNECTIONS = 50;

interface Target {
  readonly url: string;
  readonly gatewayPid?: number;
  readonly nginx?: Nginx;
  readonly appPid: () => number;
}

export async function socketThroughput(opts: { readonly quick: boolean }): Promise<SocketThroughputResult> {
  const t0 = Date.now();
  const loadBefore = os.loadavg()[0]!;
  // Short runs, many rounds: on a shared host another tenant's burst then spoils one run, not a whole path.
  const durationS = opts.quick ? 2 : 3;
  const rounds = opts.quick ? 1 : 6;
  const cpus = os.availableParallelism();
  const pinned = pinning(cpus);
  const warmupS = 1;
  const tools = { wrk: toolVersion('wrk', ['-v']), nginx: toolVersion(nginxBinary(), ['-v']) };
  const hz = clockTicksPerS();
  const dir = mkdtempSync(join(os.tmpdir(), 'wg-bench-sock-'));
  const devNull = openSync('/dev/null', 'r+');
  const fds: number[] = [];
  const stops: Array<() => Promise<unknown>> = [];
  const paths = {} as Record<SocketPathName, SocketPathResult>;
  const pairedRatios: Partial<Record<SocketPathName, number[]>> = {};
  try {
    // Baselines: the app spawned exactly as the process runtime spawns it, on a socket bound before it.
    const directPort = await freePort();
    const direct = directApp(inetListen('127.0.0.1', directPort, 511), fds, stops, devNull);
    const directSock = join(dir, 'direct.sock');
    const directUnix = directApp(unixListen(directSock, 511), fds, stops, devNull);
    // Socket mode: one gateway holds a TCP socket for one app and a Unix socket for another.
    const heldPort = await freePort();
    const heldSock = join(dir, 'held.sock');
    const spec = { command: COMMAND, dir: HELLO_DIR, runtime: 'process', idleTimeout: '1h' };
    // Started by the first socket path, so that a gateway that refuses the config fails those paths only.
    let started: Promise<GatewayProcess> | undefined;
    const held = (): Promise<GatewayProcess> =>
      (started ??= (async () => {
        const gateway = GatewayProcess.start({ tcp: { ...spec, listen: [`tcp:127.0.0.1:${heldPort}`] }, unix: { ...spec, listen: [`unix:${heldSock}`] } });
        stops.push(() => gateway.stop());
        await gateway.ready();
        return gateway;
      })());
    const targets: Partial<Record<SocketPathName, () => Promise<Target>>> = {
      direct: async () => ({ url: `http://127.0.0.1:${directPort}/`, appPid: () => direct.child.pid }),
      socket: async () => {
        const gateway = await held();
        return { url: `http://127.0.0.1:${heldPort}/`, gatewayPid: gateway.pid, appPid: () => instanceOf(gateway.pid, 'tcp') };
      },
    };
    if (tools.nginx !== 'absent') {
      const proxy = async (name: string, sock: string): Promise<Nginx> => {
        mkdirSync(join(dir, name));
        const nginx = await Nginx.start(join(dir, name), await freePort(), sock);
        stops.push(() => nginx.stop());
        return nginx;
      };
      targets['nginx-direct'] = async () => {
        const nginx = await proxy('nginx-direct', directSock);
        return { url: `http://127.0.0.1:${nginx.port}/`, nginx, appPid: () => directUnix.child.pid };
      };
      targets['nginx-socket'] = async () => {
        const gateway = await held();
        const nginx = await proxy('nginx-socket', heldSock);
        return { url: `http://127.0.0.1:${nginx.port}/`, nginx, gatewayPid: gateway.pid, appPid: () => instanceOf(gateway.pid, 'unix') };
      };
    }
    const measure = measurer({ durationS, warmupS, hz, pinned });
    const ready = new Map<SocketPathName, Target>();
    const runs = new Map<SocketPathName, SocketRun[]>(ORDER.map((n) => [n, []]));
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? ORDER : [...ORDER].reverse()) {
        const missing = tools.wrk === 'absent' ? 'wrk' : targets[name] ? undefined : 'nginx';
        if (missing) paths[name] = { status: 'absent', missing };
        if (paths[name]) continue;
        try {
          let target = ready.get(name);
          if (!target) {
            target = await targets[name]!();
            // The first request wakes the socket-mode app: the cold start stays outside the measurement.
            await untilServed(target.url);
            ready.set(name, target);
          }
          runs.get(name)!.push(await measure(target));
        } catch (err) {
          // One broken path should not lose the others' numbers; the table shows the failure.
          paths[name] = { status: 'failed', error: err instanceof Error ? err.message : String(err) };
        }
      }
    }
    for (const name of ORDER) paths[name] ??= aggregate(runs.get(name)!, hz);
    for (const [ours, base] of SOCKET_BASELINES) {
      const [a, b] = [runs.get(ours)!, runs.get(base)!];
      if (paths[ours].status === 'ok' && paths[base].status === 'ok') pairedRatios[ours] = a.map((r, i) => r.wrk.reqPerSec / b[i]!.wrk.reqPerSec);
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    for (const fd of fds) closeFd(fd);
    closeSync(devNull);
    rmSync(dir, { recursive: true, force: true });
  }
  const common = { quick: opts.quick, durationS, warmupS, rounds, threads: THREADS, connections: CONNECTIONS, cpus, clockTicksPerS: hz };
  return { ...common, app: 'examples/hello/server.mjs', tools, order: ORDER, paths, pairedRatios, pinned, loadAverage1m: { before: loadBefore, after: os.loadavg()[0]! }, wallMs: Date.now() - t0 };
}

function directApp(fd: number, fds: number[], stops: Array<() => Promise<unknown>>, devNull: number): ReturnType<ReturnType<typeof processStarter>> {
  fds.push(fd);
  const app = processStarter(COMMAND, HELLO_DIR)(fd, [devNull, devNull, 2]);
  stops.push(() => app.stop());
  return app;
}

function measurer(o: { durationS: number; warmupS: number; hz: number; pinned: SocketThroughputResult['pinned'] }): (t: Target) => Promise<SocketRun> {
  return async (target) => {
    const run = (s: number): Promise<WrkResult> => wrk({ url: target.url, durationS: s, threads: THREADS, connections: CONNECTIONS, ...(o.pinned && { cpus: o.pinned.wrk }) });
    const appPid = target.appPid();
    const nginxPids = (): number[] => (target.nginx ? [target.nginx.masterPid, ...target.nginx.workers()] : []);
    if (o.pinned) pin([appPid, ...nginxPids(), ...(target.gatewayPid === undefined ? [] : [target.gatewayPid])], o.pinned.targets);
    await run(o.warmupS);
    const gateway = (): number | null => (target.gatewayPid === undefined ? null : cpuTicks([target.gatewayPid]));
    const gw0 = gateway();
    const ngx0 = cpuTicks(nginxPids());
    const app0 = cpuTicks([appPid]);
    const w = await run(o.durationS);
    const gw1 = gateway();
    return {
      wrk: w,
      gatewayTicks: gw0 === null || gw1 === null ? null : gw1 - gw0,
      nginxTicks: target.nginx ? cpuTicks(nginxPids()) - ngx0 : null,
      appTicks: cpuTicks([appPid]) - app0,
    };
  };
}

function aggregate(runs: readonly SocketRun[], hz: number): SocketPathResult {
  const requests = runs.reduce((n, r) => n + r.wrk.requests, 0);
  const perRequest = (ticks: ReadonlyArray<number | null>): number | null =>
    ticks.some((t) => t === null) ? null : (ticks.reduce<number>((n, t) => n + t!, 0) * 1e6) / hz / requests;
  const errors = runs.reduce((n, { wrk: w }) => n + w.non2xx3xx + w.socketErrors.connect + w.socketErrors.read + w.socketErrors.write + w.socketErrors.timeout, 0);
  return {
    status: 'ok',
    runs,
    reqPerSec: median(runs.map((r) => r.wrk.reqPerSec)),
    latencyUs: { p50: median(runs.map((r) => r.wrk.latencyUs.p50)), p99: Math.max(...runs.map((r) => r.wrk.latencyUs.p99)) },
    errors,
    gatewayCpuUsPerRequest: perRequest(runs.map((r) => r.gatewayTicks)),
    nginxCpuUsPerRequest: perRequest(runs.map((r) => r.nginxTicks)),
    appCpuUsPerRequest: perRequest(runs.map((r) => r.appTicks))!,
  };
}

/** The middle value, or the mean of the two middle ones. */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
