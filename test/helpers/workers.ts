import type { Test } from 'tap';
import { request } from 'undici';
import { runGateway, type GatewayProcess } from './cli.js';
import { alive, fixtureApp, get, until, type LogLine, type Reply } from './gateway.js';

/** A `wakegate run` with `workers: 2`, an admin listener and a request log line per request. */
export interface WorkersGateway extends GatewayProcess {
  readonly adminPort: number;
  /** The pid of each worker as it last reported ready, by index. */
  workerPids(): number[];
  get(path?: string, host?: string): Promise<Reply>;
  metrics(): Promise<string>;
}

export const HOST = 'a.localhost';

export function app(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return fixtureApp([HOST], extra);
}

export async function runWorkers(t: Test, apps: Record<string, unknown>, top: Record<string, unknown> = {}): Promise<WorkersGateway> {
  const gw = await runGateway(t, { workers: 2, admin: { listen: '127.0.0.1:0' }, log: { requests: true }, shutdownTimeout: '5s', ...top, apps });
  const adminLine = await gw.waitFor((l) => l.msg === 'admin listening');
  const adminPort = (adminLine.address as { port: number }).port;
  return {
    ...gw,
    adminPort,
    workerPids: () => {
      const pids: number[] = [];
      for (const l of gw.lines) if (l.msg === 'worker ready') pids[l.worker as number] = l.pid as number;
      return pids;
    },
    get: (path = '/', host = HOST) => get(gw.port, host, path),
    metrics: async () => {
      const res = await request(`http://127.0.0.1:${adminPort}/metrics`);
      return res.body.text();
    },
  };
}

/** Worker index → requests it logged for `app` (the request log lines of workers carry `worker`). */
export function servedBy(lines: readonly LogLine[], app = 'a'): Map<number, number> {
  const counts = new Map<number, number>();
  for (const l of lines) if (l.msg === 'request' && l.app === app && typeof l.worker === 'number') counts.set(l.worker, (counts.get(l.worker) ?? 0) + 1);
  return counts;
}

/** The value of one sample in a scrape, e.g. `wakegate_requests_total{app="a",code="200"}`; undefined when absent. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Starts of `app`'s instances so far: its moves to `starting` in the log. */
export function starts(lines: readonly LogLine[], app = 'a'): number {
  return lines.filter((l) => l.app === app && l.to === 'starting').length;
}

/** Pids of processes still alive among `pids`. */
export function living(pids: readonly number[]): number[] {
  return pids.filter((pid) => alive(pid));
}

/** Rounds of concurrent requests until each of the 2 workers has served `app` (the kernel picks who accepts). */
export async function bothServe(t: Test, gw: Pick<WorkersGateway, 'get' | 'lines' | 'waitFor'>, path = '/', host = HOST, app = 'a'): Promise<number> {
  let sent = 0;
  for (let round = 0; round < 40 && servedBy(gw.lines, app).size < 2; round++) {
    const replies = await Promise.all(Array.from({ length: 20 }, () => gw.get(path, host)));
    sent += replies.length;
    if (!replies.every((r) => r.status === 200)) t.fail(`round ${round}: ${replies.map((r) => r.status).join(' ')}`);
    // The request lines are written as each request ends; the last ones may still be on their way.
    await gw.waitFor(() => total(servedBy(gw.lines, app)) >= sent).catch(() => undefined);
  }
  t.equal(servedBy(gw.lines, app).size, 2, `both workers served ${app}`);
  return sent;
}

export function total(counts: Map<number, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}

/** Resolves once each worker index in `workers` has logged a line matching `match` at index `from` or later. */
export async function eachWorker(gw: WorkersGateway, from: number, match: (l: LogLine) => boolean, workers = [0, 1], ms = 10_000): Promise<void> {
  await Promise.all(workers.map((w) => gw.waitFor((l) => l.worker === w && match(l) && gw.lines.indexOf(l) >= from, ms)));
}

/**
 * Sends `path` in batches until both workers say they are busy with it (the kernel may hand a whole batch
 * to one worker); resolves with every request sent, still in flight: its reply, or 'cut' when the
 * connection was lost. Call it once both workers are quiet.
 */
export async function busyOnBoth(gw: WorkersGateway, path: string, batch = 10): Promise<Array<Promise<Reply | 'cut'>>> {
  const from = gw.lines.length;
  const sent: Array<Promise<Reply | 'cut'>> = [];
  const busy = (w: number): boolean => gw.lines.some((l, i) => i >= from && l.msg === 'worker busy' && l.worker === w);
  for (let round = 0; round < 20 && !(busy(0) && busy(1)); round++) {
    for (let i = 0; i < batch; i++) sent.push(gw.get(path).catch(() => 'cut' as const));
    await eachWorker(gw, from, (l) => l.msg === 'worker busy', [0, 1], 1000).catch(() => undefined);
  }
  if (!(busy(0) && busy(1))) throw new Error('the requests never reached both workers');
  return sent;
}

/** Resolves once each worker's last busy/quiet word on `app` is quiet: the next request there logs a `worker busy`. */
export async function quietNow(gw: Pick<WorkersGateway, 'lines'>, app = 'a'): Promise<void> {
  const last = (w: number): unknown => gw.lines.findLast((l) => l.worker === w && l.app === app && (l.msg === 'worker busy' || l.msg === 'worker quiet'))?.msg;
  await until(() => last(0) === 'worker quiet' && last(1) === 'worker quiet', 10_000, `both workers quiet on ${app}`);
}
