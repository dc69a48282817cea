/**
 * One wrk run and its parsed summary, plus what a target needs before wrk may load it. wrk prints text only (no JSON without a Lua script), so the parser
 * is strict: a line it cannot find fails the run rather than quietly yielding a zero.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'undici';

const run = promisify(execFile);

export interface WrkOptions {
  readonly url: string;
  readonly durationS: number;
  readonly threads: number;
  readonly connections: number;
  readonly headers?: readonly string[];
  /** Runs wrk under `taskset -c <cpus>`, so that it does not share a CPU with what it loads. */
  readonly cpus?: string;
}

export interface WrkResult {
  readonly requests: number;
  /** wrk's own measured run time, which is a little over the requested duration. */
  readonly elapsedS: number;
  readonly reqPerSec: number;
  readonly latencyUs: { readonly p50: number; readonly p75: number; readonly p90: number; readonly p99: number };
  /** "Non-2xx or 3xx responses": absent from wrk's output when zero. */
  readonly non2xx3xx: number;
  /** "Socket errors: connect, read, write, timeout": absent from wrk's output when all are zero. */
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number };
  readonly argv: readonly string[];
}

/** A tool's first line of version output, or 'absent'. Exit status ignored: `wrk -v` prints usage and exits 1. */
export function toolVersion(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return 'absent';
  return `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown';
}

export async function wrk(opts: WrkOptions): Promise<WrkResult> {
  const argv = [`-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.durationS}s`, '--latency'];
  for (const h of opts.headers ?? []) argv.push('-H', h);
  argv.push(opts.url);
  // The timeout only guards against a wedged wrk; it is well past the run plus wrk's 2 s request timeout.
  const full = opts.cpus === undefined ? ['wrk', ...argv] : ['taskset', '-c', opts.cpus, 'wrk', ...argv];
  const { stdout } = await run(full[0]!, full.slice(1), { timeout: (opts.durationS + 30) * 1000, encoding: 'utf8' });
  return { ...parseWrk(stdout), argv: full };
}

export function parseWrk(out: string): Omit<WrkResult, 'argv'> {
  const total = /^\s*(\d+) requests in ([\d.]+\w+),/m.exec(out);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (!total || !rate) throw new Error(`cannot parse wrk output:\n${out}`);
  const pct = (p: number): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+\\w+)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`no ${p}% line in wrk --latency output:\n${out}`);
    return timeUs(m[1]!);
  };
  const sock = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(out);
  const non2xx = /^\s*Non-2xx or 3xx responses: (\d+)/m.exec(out);
  return {
    requests: Number(total[1]),
    elapsedS: timeUs(total[2]!) / 1e6,
    reqPerSec: Number(rate[1]),
    latencyUs: { p50: pct(50), p75: pct(75), p90: pct(90), p99: pct(99) },
    non2xx3xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

// wrk formats times with these units (its stats.c/units.c): us, ms, s, m, h.
const TIME_UNIT_US: Readonly<Record<string, number>> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

function timeUs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`unknown wrk time ${JSON.stringify(text)}`);
  return Number(m[1]) * TIME_UNIT_US[m[2]!]!;
}

/** Bind port 0, close, reuse: racy in principle, fine on a bench host nobody else is binding on. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** GETs until a 200: a proxy can be listening before it forwards, and systemd-socket-activate binds late. */
export async function untilServed(url: string, host?: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const client = new Client(new URL(url).origin);
    let problem: unknown;
    try {
      const res = await client.request({ path: '/', method: 'GET', headers: host ? { host } : {} });
      await res.body.dump();
      if (res.statusCode === 200) return;
      problem = new Error(`answered ${res.statusCode}`);
    } catch (err) {
      problem = err;
    } finally {
      await client.close();
    }
    if (Date.now() > deadline) throw new Error(`${url} never answered 200`, { cause: problem });
    await sleep(50);
  }
}
