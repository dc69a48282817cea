import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { request } from 'undici';
import type { TestGateway } from './gateway.js';
import { sleep } from './gateway.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

/** Tests skip first with needTool (test/helpers/tools.ts); this only stops a caller that did not from failing obscurely. */
export function requireBinary(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing; install it with: apt-get install --no-install-recommends prometheus`);
}

/** The admin listener's address; tests start it on 127.0.0.1:0, so it must be TCP. */
export function adminPort(gw: TestGateway): number {
  const address = gw.gateway.adminAddress;
  if (address?.kind !== 'tcp') throw new Error(`expected a TCP admin address, got ${JSON.stringify(address)}`);
  return address.port;
}

/** GET /metrics from the gateway's admin listener, as Prometheus would scrape it. */
export async function scrape(gw: TestGateway): Promise<{ status: number; contentType: string; text: string }> {
  const res = await request(`http://127.0.0.1:${adminPort(gw)}/metrics`);
  return { status: res.statusCode, contentType: String(res.headers['content-type']), text: await res.body.text() };
}

/** `# TYPE name type` lines: the names a registry really exports, with their types. */
export function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** A port that was free a moment ago, for servers (like Prometheus) that cannot report the port they bound. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs a command with `input` on stdin; resolves with its exit code and stdout+stderr together. */
export function run(cmd: string, args: string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

export interface PrometheusServer {
  readonly url: string;
  /** Instant query; resolves with the API's JSON body (status, data or error). */
  query(promql: string): Promise<PromResponse>;
  /** What Prometheus logged so far, for failure messages. */
  log(): string;
}

export interface PromResponse {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

/** Starts a real Prometheus scraping `target` every second; it and its data dir go with `t`. */
export async function startPrometheus(t: Test, target: string): Promise<PrometheusServer> {
  requireBinary(PROMETHEUS);
  const dir = mkdtempSync(join(tmpdir(), 'wg-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', '  - job_name: wakegate', '    static_configs:', `      - targets: ['${target}']`, ''].join('\n'),
  );
  const port = await freePort();
  const args = [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'];
  const child = spawn(PROMETHEUS, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // Prometheus flushes its head block on SIGTERM; a stuck shutdown must not hang the suite.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`prometheus exited during start-up:\n${output}`);
    // The port may have been taken between freePort() and bind; then Prometheus exits and we report its log.
    const status = await request(`${url}/-/ready`).then(
      async (res) => (await res.body.dump(), res.statusCode),
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`prometheus not ready after 15 s:\n${output}`);
    await sleep(100);
  }
  return {
    url,
    log: () => output,
    query: async (promql) => {
      const res = await request(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      return (await res.body.json()) as PromResponse;
    },
  };
}
