/**
 * Soak: SOAK_SECONDS (default 600) of mixed load against a real `wakegate run` with SOAK_APPS (default 50)
 * fixture apps on short, varied idle timeouts, so that apps keep stopping and cold-starting under load.
 * Bounded workers (SOAK_WORKERS, default 8) send GETs, 1–8 MiB uploads (the echoed byte count is checked)
 * and WebSocket echo sessions (every message checked), all on loopback. Every 5 s the gateway's fd count
 * and RSS are sampled. Prints a markdown table over time and a summary, and writes them as JSON to
 * SOAK_OUT or bench/results/soak-<timestamp>.json. Exits 0 unless the run itself broke: the numbers are
 * for the caller to judge.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { Agent, request, WebSocket } from 'undici';
import { GatewayProcess, ROOT } from './gateway-process.js';
import { Tally, type Kind, type Sample } from './soak-tally.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const APPS = Number(process.env.SOAK_APPS ?? 50);
const WORKERS = Number(process.env.SOAK_WORKERS ?? 8);
const SAMPLE_MS = 5_000;
const APP_DIR = join(ROOT, 'test/fixtures/apps');
/** Every exchange is bounded, so a wedged gateway shows up as errors, never as a hung soak. */
const OP_TIMEOUT_MS = 30_000;
/** The hot set: WINDOW apps get the load, and it moves on by SHIFT apps every SHIFT_MS, so the rest idle out. */
const WINDOW = Math.min(12, APPS);
const SHIFT = 7;
const SHIFT_MS = 5_000;
const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'w');

const host = (i: number): string => `s${String(i).padStart(2, '0')}.localhost`;
const random = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Resolves every name to 127.0.0.1, so WebSocket URLs can carry the app's host name. */
const loopback: LookupFunction = (_name, options, callback) => {
  if (options.all) (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

class Load {
  readonly http = new Agent({ connections: 64, keepAliveTimeout: 4_000 });
  readonly ws = new Agent({ connect: { lookup: loopback } });

  constructor(
    private readonly port: number,
    private readonly tally: Tally,
  ) {}

  /** One worker: picks an app from the hot set and a kind of exchange, until the deadline or its op budget. */
  async worker(deadline: number, maxOps: number): Promise<void> {
    for (let n = 0; n < maxOps && performance.now() < deadline; n++) {
      const elapsed = performance.now() - this.tally.startedAt;
      const app = (Math.floor(elapsed / SHIFT_MS) * SHIFT + random(0, WINDOW - 1)) % APPS;
      const roll = Math.random();
      const kind: Kind = roll < 0.7 ? 'get' : roll < 0.85 ? 'upload' : 'ws';
      const started = performance.now();
      try {
        const timed = await within(kind === 'get' ? this.get(app) : kind === 'upload' ? this.upload(app) : this.session(app), OP_TIMEOUT_MS, kind);
        this.tally.done(kind, timed ? performance.now() - started : undefined);
      } catch (err) {
        this.tally.error(kind, host(app), err);
      }
      await sleep(random(0, 20));
    }
  }

  /** Resolves true when its latency counts: /slow answers late on purpose. */
  private async get(app: number): Promise<boolean> {
    const slow = Math.random() < 0.1;
    const path = slow ? `/slow?ms=${random(50, 400)}` : `/item/${random(0, 1e6)}`;
    const res = await request(`http://127.0.0.1:${this.port}${path}`, { dispatcher: this.http, headers: { host: host(app) } });
    const body = await res.body.text();
    if (this.tally.status('get', host(app), res.statusCode, body)) {
      const echoed = (JSON.parse(body) as { path: string }).path;
      if (echoed !== path.split('?')[0]) this.tally.mismatch('get', host(app), `path ${echoed} for ${path}`);
    }
    return !slow;
  }

  private async upload(app: number): Promise<false> {
    const size = random(1 * MiB, 8 * MiB);
    async function* body(): AsyncGenerator<Buffer> {
      for (let sent = 0; sent < size; sent += CHUNK.length) yield CHUNK.subarray(0, Math.min(CHUNK.length, size - sent));
    }
    const res = await request(`http://127.0.0.1:${this.port}/count`, {
      method: 'POST',
      dispatcher: this.http,
      headers: { host: host(app), 'content-length': String(size) },
      body: Readable.from(body()),
    });
    const text = await res.body.text();
    this.tally.uploaded(size);
    if (this.tally.status('upload', host(app), res.statusCode, text)) {
      const bytes = (JSON.parse(text) as { bytes: number }).bytes;
      if (bytes !== size) this.tally.mismatch('upload', host(app), `${bytes} bytes echoed for ${size}`);
    }
    return false;
  }

  /** A WebSocket session: 1–5 messages of up to 16 KiB, each echo compared, with pauses that keep it open. */
  private async session(app: number): Promise<false> {
    const ws = new WebSocket(`ws://${host(app)}:${this.port}/ws`, { dispatcher: this.ws });
    const closed = new Promise<void>((done) => ws.addEventListener('close', () => done(), { once: true }));
    try {
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener('open', () => resolve(), { once: true });
        ws.addEventListener('error', () => reject(new Error('websocket handshake failed')), { once: true });
      });
      for (let i = random(1, 5); i > 0; i--) {
        const text = randomBytes(random(1, 12 * 1024)).toString('base64');
        const echo = new Promise<string>((resolve) => ws.addEventListener('message', (e) => resolve(String(e.data)), { once: true }));
        ws.send(text);
        if ((await echo) !== text) this.tally.mismatch('ws', host(app), `echo of ${text.length} chars differs`);
        await sleep(random(0, 200));
      }
    } finally {
      if (ws.readyState !== ws.CLOSED) ws.close(1000);
      await within(closed, 5_000, 'websocket close');
    }
    return false;
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.ws.close()]);
  }
}

/** fds, RSS and live instances (children) of the gateway, from /proc. */
function sample(pid: number, t: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  let instances = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    instances += readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).length;
  }
  return { t, fds: readdirSync(`/proc/${pid}/fd`).length, rssKiB, instances };
}

async function main(): Promise<number> {
  const apps: Record<string, unknown> = {};
  for (let i = 0; i < APPS; i++) {
    // 1 s to 3 s: short enough that an app out of the hot set stops before it comes round again.
    const idleTimeout = `${1 + (i % 5) * 0.5}s`;
    apps[`s${String(i).padStart(2, '0')}`] = { hosts: [host(i)], command: [process.execPath, 'app.mjs'], dir: APP_DIR, runtime: 'process', idleTimeout, stopTimeout: '2s' };
  }
  const gateway = GatewayProcess.start(apps, { shutdownTimeout: '5s' });
  let broken: string | undefined;
  void gateway.exited.then((e) => (broken ??= `the gateway exited during the run (code ${e.code}, signal ${e.signal})`));
  try {
    const { port } = await gateway.ready();
    const tally = new Tally(SECONDS, Date.now(), performance.now());
    tally.fdStart = sample(gateway.pid, 0).fds;
    const load = new Load(port, tally);
    const sampler = setInterval(() => {
      try {
        tally.samples.push(sample(gateway.pid, (performance.now() - tally.startedAt) / 1000));
      } catch {
        // the gateway is gone; `broken` says so and ends the run
      }
    }, SAMPLE_MS);
    const deadline = tally.startedAt + SECONDS * 1000;
    const maxOps = SECONDS * 200; // far above what a worker manages; a bound, not a target
    await Promise.all(Array.from({ length: WORKERS }, () => load.worker(deadline, maxOps)));
    clearInterval(sampler);
    tally.samples.push(sample(gateway.pid, (performance.now() - tally.startedAt) / 1000));
    await load.close();
    // Wind-down: every app idles out (3 s at most, plus its stop); then the fds must be back where they began.
    const quietBy = Date.now() + 30_000;
    while (!broken && Date.now() < quietBy && sample(gateway.pid, 0).instances > 0) await sleep(250);
    await sleep(1_000);
    if (broken) throw new Error(broken);
    tally.fdIdleEnd = sample(gateway.pid, 0).fds;
    tally.coldStarts(gateway.lines);
    const out = process.env.SOAK_OUT ?? join(ROOT, 'bench/results', `soak-${new Date().toISOString().replace(/:/g, '-')}.json`);
    const report = tally.report({ apps: APPS, workers: WORKERS });
    process.stdout.write(`${tally.markdown(report)}\n`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`results written to ${out}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`soak: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    const exit = await gateway.stop();
    if (exit.code !== 0 && !broken) process.stderr.write(`soak: the gateway exited with code ${exit.code}, signal ${exit.signal} at shutdown\n`);
  }
}

process.exitCode = await main();
