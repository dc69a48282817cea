/**
 * The paths of the L7 throughput scenario, each the same app behind one proxy (or none), and how to bring
 * each one up. Every path of one app stays up for all of that app's rounds: an idle one costs nothing,
 * and each round then measures every path under the same background.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { inetListen, unixListen } from '../src/native/index.js';
import { processStarter } from './bare.js';
import { GatewayProcess, ROOT } from './gateway-process.js';
import { Haproxy } from './haproxy.js';
import { Nginx, childPids } from './nginx.js';
import { instanceOf } from './proc-cpu.js';
import { freePort } from './wrk.js';

export type ProxyKind = 'direct' | 'wakegate' | 'nginx' | 'haproxy' | 'http-proxy';

export interface PathSpec {
  readonly id: string;
  readonly kind: ProxyKind;
  readonly label: string;
  /** Added to the gateway's config, for the wakegate paths. */
  readonly config?: Readonly<Record<string, unknown>>;
}

/**
 * Each wakegate row is one entry here, its config merged into the gateway's. Pinned, every worker shares
 * CPU 0 with the app, so the 2-worker row shows what the workers cost there; unpinned (BENCH_PIN=0), what
 * a second core gives them.
 */
export const WAKEGATE_PATHS: readonly PathSpec[] = [
  { id: 'wakegate', kind: 'wakegate', label: 'wakegate, 1 worker', config: {} },
  { id: 'wakegate-2', kind: 'wakegate', label: 'wakegate, 2 workers', config: { workers: 2 } },
];

export const PATHS: readonly PathSpec[] = [
  { id: 'direct', kind: 'direct', label: 'direct' },
  ...WAKEGATE_PATHS,
  { id: 'nginx', kind: 'nginx', label: 'nginx, 1 worker' },
  { id: 'haproxy', kind: 'haproxy', label: 'HAProxy, 1 thread' },
  { id: 'http-proxy', kind: 'http-proxy', label: 'http-proxy' },
];

/** One path, up: where wrk sends its load, and whose CPU counts as the proxy's. */
export interface Target {
  readonly url: string;
  /** The Host header wrk sends, where the proxy routes on it. */
  readonly host?: string;
  /** Re-read at each sample: nginx would replace a worker that died. */
  readonly proxyPids: () => number[];
  readonly appPid: () => number;
}

const HOST = 'hello.localhost';
const APP_NAME = 'hello';
const HTTP_PROXY_SERVER = join(ROOT, 'dist/bench/http-proxy-server.js');

/** What every path of one app shares: its temp dir, /dev/null for the apps' stdio, and what to undo. */
export interface PathContext {
  readonly dir: string;
  readonly devNull: number;
  readonly fds: number[];
  readonly stops: Array<() => Promise<unknown>>;
  /** The app's command, e.g. [node, 'server.mjs'], and the dir it runs in. */
  readonly command: readonly string[];
  readonly appDir: string;
}

/** Brings up one path. The proxies share one instance of the app on a Unix socket, started by the first of them. */
export function opener(ctx: PathContext): (spec: PathSpec) => Promise<Target> {
  let shared: { socketPath: string; pid: number } | undefined;
  const unixApp = (): { socketPath: string; pid: number } => {
    if (shared) return shared;
    const socketPath = join(ctx.dir, 'app.sock');
    return (shared = { socketPath, pid: startApp(ctx, unixListen(socketPath, 511)) });
  };
  return async (spec) => {
    switch (spec.kind) {
      case 'direct': {
        const port = await freePort();
        const pid = startApp(ctx, inetListen('127.0.0.1', port, 511));
        return { url: `http://127.0.0.1:${port}/`, proxyPids: () => [], appPid: () => pid };
      }
      case 'wakegate': {
        const app = { hosts: [HOST], command: [...ctx.command], dir: ctx.appDir, runtime: 'process', idleTimeout: '1h' };
        // Per-request log lines would be parsed by this process, on the same CPUs; they are off by default anyway.
        const gateway = GatewayProcess.start({ [APP_NAME]: app }, { log: { requests: false }, ...spec.config });
        ctx.stops.push(() => gateway.stop());
        const { port } = await gateway.ready();
        const appPid = (): number => instanceOf(gateway.pid, APP_NAME);
        // Any child of the gateway that is not the app's instance is the gateway's own (a worker, once there are any).
        const proxyPids = (): number[] => [gateway.pid, ...childPids(gateway.pid).filter((pid) => pid !== appPid())];
        return { url: `http://127.0.0.1:${port}/`, host: HOST, proxyPids, appPid };
      }
      case 'nginx': {
        const app = unixApp();
        mkdirSync(join(ctx.dir, 'nginx'));
        const nginx = await Nginx.start(join(ctx.dir, 'nginx'), await freePort(), app.socketPath);
        ctx.stops.push(() => nginx.stop());
        return { url: `http://127.0.0.1:${nginx.port}/`, proxyPids: () => [nginx.masterPid, ...nginx.workers()], appPid: () => app.pid };
      }
      case 'haproxy': {
        const app = unixApp();
        const haproxy = await Haproxy.start(ctx.dir, await freePort(), app.socketPath);
        ctx.stops.push(() => haproxy.stop());
        return { url: `http://127.0.0.1:${haproxy.port}/`, proxyPids: () => [haproxy.pid], appPid: () => app.pid };
      }
      case 'http-proxy': {
        const app = unixApp();
        const port = await freePort();
        const pid = await startHttpProxy(ctx, port, app.socketPath);
        return { url: `http://127.0.0.1:${port}/`, proxyPids: () => [pid], appPid: () => app.pid };
      }
    }
  };
}

/** The app spawned exactly as the process runtime spawns it, on a socket bound before it. */
function startApp(ctx: PathContext, fd: number): number {
  ctx.fds.push(fd);
  const app = processStarter([...ctx.command], ctx.appDir)(fd, [ctx.devNull, ctx.devNull, 2]);
  ctx.stops.push(() => app.stop());
  return app.child.pid;
}

async function startHttpProxy(ctx: PathContext, port: number, socketPath: string): Promise<number> {
  const child = spawn(process.execPath, [HTTP_PROXY_SERVER, String(port), socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  ctx.stops.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<void>((resolve) => lines.on('line', (l) => l === 'listening' && resolve()));
  if (!(await Promise.race([ready.then(() => true), exited.then(() => false)]))) throw new Error(`http-proxy server exited: ${stderr.trim()}`);
  return child.pid!;
}

/** The app's command for a file: the node running the bench, so that the app binary is the same everywhere. */
export function appCommand(file: string): { command: string[]; appDir: string } {
  return { command: [process.execPath, basename(file)], appDir: dirname(file) };
}
