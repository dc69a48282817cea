/**
 * Socket-mode cold start against a bare spawn of the same app on the same kind of pre-bound socket: the
 * clock runs from the client's connect to the first response byte on both paths. On the bare path the
 * bench spawns the app once the connection is established (it then waits in the accept queue, as it
 * does for the gateway); on the socket path the gateway sees the socket readable and starts the app. The
 * difference is what the gateway adds: its readiness wake-up and its start decision.
 *
 * The paths alternate run by run. Between socket runs the instance is stopped through the admin API, so
 * each run starts from "stopped" without depending on the idle rule.
 */
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { closeFd, getSockName, inetListen } from '../src/native/index.js';
import { processStarter } from './bare.js';
import { GatewayProcess, HELLO_DIR, type LogLine } from './gateway-process.js';
import { markdownTable, ms, ratio, summarize, type Summary } from './stats.js';
import { freePort } from './wrk.js';

export type SocketColdPath = 'bare-tcp' | 'socket-tcp';

export interface SocketColdStartResult {
  readonly runs: number;
  readonly warmup: number;
  readonly command: readonly string[];
  readonly paths: ReadonlyArray<{ readonly path: SocketColdPath; readonly samplesMs: number[]; readonly summary: Summary }>;
  /** The gateway's own cold-start log lines for the socket path (its phases, as it timed them). */
  readonly logged: readonly LogLine[];
  /** Difference of percentiles, socket minus bare (the runs are not paired). */
  readonly overhead: { readonly p50Ms: number; readonly p99Ms: number; readonly ratioP50: number } | null;
}

const APP = 'hello';
const COMMAND = ['/usr/bin/node', 'server.mjs'] as const;
const REQUEST = `GET / HTTP/1.1\r\nHost: ${APP}\r\nConnection: close\r\n\r\n`;
/** Same pause after every run, on both paths: lets the stopped instance's exit settle before the next clock. */
const BETWEEN_RUNS_MS = 20;
const RUN_TIMEOUT_MS = 15_000;

export const SOCKET_COLD_LABELS: Readonly<Record<SocketColdPath, string>> = {
  'bare-tcp': 'bare fork/exec on a pre-bound TCP socket (connect → first byte)',
  'socket-tcp': 'socket mode, runtime process, wakegate-held TCP socket (connect → first byte)',
};

export async function socketColdStart(opts: { readonly runs: number; readonly warmup: number }): Promise<SocketColdStartResult> {
  const devNull = openSync('/dev/null', 'r+');
  const bareFd = inetListen('127.0.0.1', 0, 511);
  const barePort = getSockName(bareFd).port;
  const start = processStarter(COMMAND, HELLO_DIR);
  const heldPort = await freePort();
  const gateway = GatewayProcess.start(
    { [APP]: { listen: [`tcp:127.0.0.1:${heldPort}`], command: COMMAND, dir: HELLO_DIR, runtime: 'process', idleTimeout: '1h' } },
    { admin: { listen: '127.0.0.1:0' } },
  );
  try {
    await gateway.ready();
    const admin = await gateway.waitFor((l) => l.msg === 'admin listening');
    const adminPort = (admin.line.address as { port: number }).port;
    let cursor = 0;
    const logged: LogLine[] = [];
    const runs: Record<SocketColdPath, () => Promise<number>> = {
      'bare-tcp': async () => {
        let app: ReturnType<typeof start> | undefined;
        try {
          return await firstByte(barePort, () => (app = start(bareFd, [devNull, devNull, 2])));
        } finally {
          await app?.stop();
        }
      },
      'socket-tcp': async () => {
        const elapsed = await firstByte(heldPort);
        const started = await gateway.waitFor((l) => l.app === APP && l.result !== undefined, cursor);
        if (started.line.result !== 'ok') throw new Error(`socket-mode cold start logged result ${String(started.line.result)}`);
        await adminStop(adminPort);
        const stopped = await gateway.waitFor((l) => l.app === APP && l.reason !== undefined, started.index + 1);
        cursor = stopped.index + 1;
        logged.push(started.line);
        return elapsed;
      },
    };
    const order = Object.keys(runs) as SocketColdPath[];
    const samples = new Map(order.map((p) => [p, [] as number[]]));
    for (let i = -opts.warmup; i < opts.runs; i++) {
      for (let j = 0; j < order.length; j++) {
        const path = order[(i + opts.warmup + j) % order.length]!;
        const v = await runs[path]();
        await sleep(BETWEEN_RUNS_MS);
        if (i >= 0) samples.get(path)!.push(v);
      }
    }
    // Warm-up runs logged lines too; keep the measured runs' only.
    logged.splice(0, opts.warmup);
    const paths = order.map((path) => ({ path, samplesMs: samples.get(path)!, summary: summarize(samples.get(path)!) }));
    const [bare, socket] = [paths[0]!.summary, paths[1]!.summary];
    const overhead = { p50Ms: socket.p50 - bare.p50, p99Ms: socket.p99 - bare.p99, ratioP50: socket.p50 / bare.p50 };
    return { runs: opts.runs, warmup: opts.warmup, command: ['node', 'examples/hello/server.mjs'], paths, logged, overhead };
  } finally {
    await gateway.stop();
    closeFd(bareFd);
    closeSync(devNull);
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
async function adminStop(port: number): Promise<void> {
  const client = new Client(`http://127.0.0.1:${port}`);
  try {
    const res = await client.request({ path: `/apps/${APP}/stop`, method: 'POST' });
    const body = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`admin stop answered ${res.statusCode}: ${body}`);
  } finally {
    await client.close();
  }
}

export function renderSocketColdStart(r: SocketColdStartResult): string[] {
  const row = (name: string, s: Summary): string[] => [name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.min), ms(s.max)];
  const rows = r.paths.map((p) => row(SOCKET_COLD_LABELS[p.path], p.summary));
  const phase = (key: string): number[] => r.logged.map((l) => Number(l[key])).filter(Number.isFinite);
  for (const key of ['spawnMs', 'acceptMs', 'firstByteMs']) {
    const v = phase(key);
    if (v.length > 0) rows.push(row(`socket-tcp, its log: ${key}`, summarize(v)));
  }
  const o = r.overhead;
  return [
    `### Socket-mode cold start, \`${r.command.join(' ')}\`, ${r.runs} runs per path, alternating (ms, nearest-rank)`,
    markdownTable(['path', 'p50', 'p90', 'p99', 'min', 'max'], rows),
    o ? `Socket mode over bare: Δp50 ${ms(o.p50Ms)} ms, Δp99 ${ms(o.p99Ms)} ms, p50 ratio ${ratio(o.ratioP50, 1)} (goal: Δp50 ≤ +2 ms).` : '',
  ];
}
