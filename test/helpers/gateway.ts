import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { request } from 'undici';
import type { Test } from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import type { AppSpec, GatewayConfig } from '../../src/config/types.js';
import { Gateway } from '../../src/gateway.js';
import { ProcessRuntime } from '../../src/runtime/process.js';
import type { HandedSocket, Instance, Runtime } from '../../src/runtime/runtime.js';
import type { Logger } from '../../src/log.js';
import type { Recorder } from '../../src/activator/recorder.js';
import type { MemoryReader } from '../../src/capacity/memory.js';

/** The repository root, from dist/test/helpers/ or test/helpers/. */
export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..', fileURLToPath(import.meta.url).includes('/dist/') ? '..' : '.');
export const FIXTURE_APP = join(ROOT, 'test/fixtures/apps');

export type LogLine = Record<string, unknown> & { msg: string; level: number };

/** A logger whose lines are parsed and kept, so tests assert on what operators would read. */
export function captureLogger(): { log: Logger; lines: LogLine[]; waitFor: WaitForLine } {
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) {
        if (!text) continue;
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const waiter of [...waiters]) waiter(line);
      }
      done();
    },
  });
  const waitFor: WaitForLine = (match, ms = 10_000, from = 0) => {
    const seen = lines.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (waiters.delete(waiter), reject(new Error('timed out waiting for a log line'))), ms);
      const waiter = (line: LogLine): void => {
        if (!match(line)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        resolve(line);
      };
      waiters.add(waiter);
    });
  };
  return { log: pino({ level: 'debug' }, sink), lines, waitFor };
}

/** Resolves with the first log line from index `from` on that matches, already logged or still to come: an event, not a poll. */
export type WaitForLine = (match: (line: LogLine) => boolean, ms?: number, from?: number) => Promise<LogLine>;

/** Counts starts around the real process runtime: the spawn count is what single-flight is about. */
export class CountingRuntime implements Runtime {
  readonly kind = 'process';
  starts = 0;
  readonly instances: Instance[] = [];
  private readonly inner = new ProcessRuntime();
  async start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance> {
    this.starts += 1;
    const instance = await this.inner.start(app, sockets, log);
    this.instances.push(instance);
    return instance;
  }
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly port: number;
  readonly runtime: CountingRuntime;
  readonly lines: LogLine[];
  readonly config: GatewayConfig;
  readonly waitFor: WaitForLine;
  get(host: string | undefined, path?: string, headers?: Record<string, string>): Promise<Reply>;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A fixture app with `MODE` and overrides; the defaults keep tests fast. */
export function fixtureApp(hosts: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { hosts, command: [process.execPath, 'app.mjs'], dir: FIXTURE_APP, runtime: 'process', ...extra };
}

export interface StartOptions {
  /** Use the runtimes the config selects (oci, auto) instead of the counting process runtime. */
  readonly realRuntimes?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  /** Receives the activator's events too (state changes, load), for tests that wait on them. */
  readonly recorder?: Recorder;
  /** The host's memory as capacity.minAvailable reads it (src/capacity/memory.ts); /proc by default. */
  readonly memory?: MemoryReader;
}

/** Starts an in-process gateway on 127.0.0.1:0 with a temp runtimeDir; everything is torn down with `t`. */
export async function startGateway(t: Test, apps: Record<string, unknown>, top: Record<string, unknown> = {}, options: StartOptions = {}): Promise<TestGateway> {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'wg-test-'));
  const config = validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir, shutdownTimeout: '2s', apps, ...top }, join(runtimeDir, 'test.yaml'), {
    env: options.env,
  });
  const { log, lines, waitFor } = captureLogger();
  const runtime = new CountingRuntime();
  const gateway = await Gateway.start(config, {
    log,
    ...(options.realRuntimes ? {} : { runtimeFor: () => runtime }),
    ...(options.recorder ? { recorder: options.recorder } : {}),
    ...(options.memory ? { memory: options.memory } : {}),
  });
  t.teardown(async () => {
    await gateway.shutdown();
    rmSync(runtimeDir, { recursive: true, force: true });
  });
  const port = gateway.address.kind === 'tcp' ? gateway.address.port : 0;
  return {
    gateway,
    port,
    runtime,
    lines,
    config,
    waitFor,
    get: (host, path = '/', headers = {}) => get(port, host, path, headers),
  };
}

export async function get(port: number, host: string | undefined, path = '/', headers: Record<string, string> = {}): Promise<Reply> {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headers: host === undefined ? headers : { host, ...headers } });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** True while a process with this pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Polls `check` until it is true or `ms` pass; for waiting on the outside world in tests only. */
export async function until(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Sends `text` verbatim on a fresh connection and returns everything the server sent until it closed. */
export function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}
