/**
 * The freeze tier (freezeAfter): a request to a frozen instance (thaw, then the request) beside a warm
 * request to the same instance running, and a cold start of the same app, all in one gateway run. Each
 * sample is one GET on a fresh connection, timed from the send to the response head.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';
import { markdownTable, ms, ratio, summarize, type Summary } from './stats.js';
import { timedGet } from './timed-get.js';

export interface FreezeResult {
  readonly runs: number;
  /** The instance running: the request goes straight to it. */
  readonly warm: Summary;
  /** The instance frozen (its cgroup's freezer): the thaw, then the request. */
  readonly frozen: Summary;
  /** The instance stopped: spawn and the first answer. */
  readonly cold: Summary;
  /** Requests that were not answered 200, any path. */
  readonly errors: number;
}

const HOST = 'hello.localhost';

export async function freezeBench(opts: { quick: boolean }): Promise<FreezeResult> {
  const runs = opts.quick ? 3 : 30;
  const hello = { hosts: [HOST], command: [process.execPath, 'server.mjs'], dir: HELLO_DIR, runtime: 'process', freezeAfter: '100ms', idleTimeout: '60s' };
  const gw = GatewayProcess.start({ hello }, { admin: { listen: '127.0.0.1:0' } });
  try {
    const { port } = await gw.ready();
    const { line } = await gw.waitFor((l) => l.msg === 'admin listening');
    const admin = `http://127.0.0.1:${(line.address as { port: number }).port}`;
    const state = async (): Promise<string> => ((await (await request(`${admin}/apps/hello`)).body.json()) as { state: string }).state;
    const until = async (wanted: string): Promise<void> => {
      for (let i = 0; i < 1000 && (await state()) !== wanted; i++) await sleep(10);
      if ((await state()) !== wanted) throw new Error(`freeze bench: hello never became ${wanted}`);
    };
    const warm: number[] = [];
    const frozen: number[] = [];
    const cold: number[] = [];
    let errors = 0;
    const timed = async (into: number[]): Promise<void> => {
      try {
        into.push(await timedGet(port, HOST));
      } catch {
        errors += 1;
      }
    };
    for (let run = 0; run < runs; run++) {
      await timed(cold);
      // Back to back, well inside freezeAfter: the instance runs.
      await timed(warm);
      await until('frozen');
      await timed(frozen);
      const stopped = await request(`${admin}/apps/hello/stop`, { method: 'POST' });
      await stopped.body.dump();
      await until('stopped');
    }
    return { runs, warm: summarize(warm), frozen: summarize(frozen), cold: summarize(cold), errors };
  } finally {
    await gw.stop();
  }
}

export function freezeSummaryRows(r: FreezeResult): string[][] {
  return [['wake from frozen p50 (ms)', ms(r.frozen.p50), `${ms(r.warm.p50)} (warm), ${ms(r.cold.p50)} (cold start)`, ratio(r.frozen.p50, r.warm.p50)]];
}

export function renderFreeze(r: FreezeResult): string[] {
  const row = (name: string, s: Summary): string[] => [name, String(s.n), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)];
  return [
    '### Freeze tier (process runtime, cgroup freezer)',
    markdownTable(['request to', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'], [row('running instance (warm)', r.warm), row('frozen instance (thaw + request)', r.frozen), row('stopped app (cold start)', r.cold)]),
    `Errors: ${r.errors}.`,
  ];
}
