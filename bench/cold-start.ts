/**
 * Cold start, bare vs through the gateway, for the same app in the same run. The two paths alternate
 * run by run (ABAB, then BABA) so that thermal or cache drift lands on both equally.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { validateConfig } from '../src/config/schema.js';
import { bareOnce, processStarter, runcStarter } from './bare.js';
import { GatewayProcess, HELLO_DIR, type LogLine } from './gateway-process.js';
import { summarize, type Summary } from './stats.js';

export interface ColdStartOptions {
  readonly runtime: 'process' | 'oci';
  /** The OCI runtime binary, for runtime oci. */
  readonly runc?: string;
  readonly runs: number;
  /** Discarded runs of each path first: the very first exec pays for page-cache misses on node itself. */
  readonly warmup: number;
}

export interface ColdStartResult {
  readonly runtime: 'process' | 'oci';
  readonly runs: number;
  readonly warmup: number;
  readonly command: readonly string[];
  /** Spawn (of node, or of `runc run`) to the first response header over the Unix socket, no gateway involved. */
  readonly bare: { readonly samplesMs: number[]; readonly summary: Summary };
  /** Client send to the first response header, through the front listener of a real `wakegate run`. */
  readonly gateway: {
    readonly samplesMs: number[];
    readonly summary: Summary;
    /** What the gateway itself logged per cold start: trigger to runtime.start returning / to first byte. */
    readonly loggedSpawnMs: Summary;
    readonly loggedFirstByteMs: Summary;
    readonly loggedSamples: ReadonlyArray<{ readonly spawnMs: number; readonly firstByteMs: number }>;
  };
  readonly overheadMs: { readonly p50: number; readonly p99: number };
  readonly ratio: { readonly p50: number; readonly p99: number };
}

// Same binary and argv on both paths; inside a container node comes from the host's /usr, as here.
const COMMAND = ['/usr/bin/node', 'server.mjs'] as const;
// The idle stop is how the gateway path gets back to "stopped" between runs until the admin API exists.
const IDLE_TIMEOUT = '200ms';

export async function coldStart(opts: ColdStartOptions): Promise<ColdStartResult> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-bench-bare-'));
  const hello = { hosts: ['hello.localhost'], command: COMMAND, dir: HELLO_DIR, runtime: opts.runtime, idleTimeout: IDLE_TIMEOUT };
  const gateway = GatewayProcess.start({ hello }, opts.runc ? { oci: { runtime: opts.runc } } : {});
  const starter =
    opts.runtime === 'oci'
      ? runcStarter(opts.runc!, dir, validateConfig({ listen: { http: ':0' }, oci: { runtime: opts.runc }, apps: { hello } }, join(dir, 'c.json')).apps.hello!)
      : processStarter(COMMAND, HELLO_DIR);
  try {
    const { port } = await gateway.ready();
    const viaGateway = new GatewayPath(gateway, port);
    const bare: number[] = [];
    const through: number[] = [];
    const logged: LogLine[] = [];
    for (let i = -opts.warmup; i < opts.runs; i++) {
      const measure = async (path: 'bare' | 'gateway'): Promise<void> => {
        if (path === 'bare') {
          const ms = await bareOnce(join(dir, 'hello.sock'), starter);
          if (i >= 0) bare.push(ms);
        } else {
          const { ms, line } = await viaGateway.once();
          if (i >= 0) {
            through.push(ms);
            logged.push(line);
          }
        }
      };
      const order = (i + opts.warmup) % 2 === 0 ? (['bare', 'gateway'] as const) : (['gateway', 'bare'] as const);
      for (const path of order) await measure(path);
    }
    const b = summarize(bare);
    const g = summarize(through);
    const loggedSamples = logged.map((l) => ({ spawnMs: Number(l.spawnMs), firstByteMs: Number(l.firstByteMs) }));
    return {
      runtime: opts.runtime,
      runs: opts.runs,
      warmup: opts.warmup,
      command: ['node', 'examples/hello/server.mjs'],
      bare: { samplesMs: bare, summary: b },
      gateway: {
        samplesMs: through,
        summary: g,
        loggedSpawnMs: summarize(loggedSamples.map((l) => l.spawnMs)),
        loggedFirstByteMs: summarize(loggedSamples.map((l) => l.firstByteMs)),
        loggedSamples,
      },
      overheadMs: { p50: g.p50 - b.p50, p99: g.p99 - b.p99 },
      ratio: { p50: g.p50 / b.p50, p99: g.p99 / b.p99 },
    };
  } finally {
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

class GatewayPath {
  /** Log lines before this index belong to earlier runs. */
  private cursor = 0;

  constructor(
    private readonly gateway: GatewayProcess,
    private readonly port: number,
  ) {}

  /** One cold start; returns only once the app has been idle-stopped again, ready for the next run. */
  async once(): Promise<{ ms: number; line: LogLine }> {
    // A fresh connection per run, like the bare path's, so both include their connect().
    const client = new Client(`http://127.0.0.1:${this.port}`);
    let ms: number;
    try {
      const t0 = performance.now();
      const res = await client.request({ path: '/', method: 'GET', headers: { host: 'hello.localhost' } });
      ms = performance.now() - t0;
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`gateway cold start answered ${res.statusCode}`);
    } finally {
      await client.close();
    }
    const started = await this.gateway.waitFor((l) => l.app === 'hello' && l.result !== undefined, this.cursor);
    if (started.line.result !== 'ok') throw new Error(`gateway cold start logged result ${String(started.line.result)}`);
    const stopped = await this.gateway.waitFor((l) => l.app === 'hello' && l.reason !== undefined, started.index + 1);
    if (stopped.line.reason !== 'idle') throw new Error(`instance stopped for ${String(stopped.line.reason)}, expected idle`);
    this.cursor = stopped.index + 1;
    return { ms, line: started.line };
  }
}
