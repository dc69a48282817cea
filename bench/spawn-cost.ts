/**
 * What one spawn costs the gateway's event loop, and how that grows with the gateway's own memory: the
 * native spawn (clone3 with CLONE_VM | CLONE_VFORK where the arch allows it) against Node's
 * child_process.spawn (libuv: fork, which copies the page tables of the whole process), side by side in one
 * process, first at its own size and then with ballast touched in. Both calls return once the child has
 * exec'd (each reports an exec failure synchronously through a CLOEXEC pipe), so they time the same span.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { spawn } from '../src/native/index.js';
import { markdownTable, ms, ratio, summarize, type Summary } from './stats.js';

export interface SpawnCostPoint {
  readonly rssBytes: number;
  readonly native: Summary;
  readonly childProcess: Summary;
}

export interface SpawnCostResult {
  readonly runs: number;
  readonly command: readonly string[];
  readonly points: readonly SpawnCostPoint[];
}

const COMMAND = ['/bin/true'] as const;

export async function spawnCost(opts: { readonly runs: number; readonly ballastMiB: readonly number[] }): Promise<SpawnCostResult> {
  const points: SpawnCostPoint[] = [];
  const ballast: Buffer[] = [];
  for (const mib of [0, ...opts.ballastMiB]) {
    // Filled, so that every page is resident and mapped: what a gateway with that much live heap has.
    while (ballast.length < mib) ballast.push(Buffer.alloc(1024 ** 2, 1));
    const native: number[] = [];
    const child: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      // Alternating, so that a drift in the machine's load lands on both.
      native.push(await timeNative());
      child.push(await timeChildProcess());
    }
    points.push({ rssBytes: process.memoryUsage().rss, native: summarize(native), childProcess: summarize(child) });
  }
  ballast.length = 0;
  return { runs: opts.runs, command: COMMAND, points };
}

async function timeNative(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(COMMAND[0], COMMAND, {}, [], {});
  const took = performance.now() - t0;
  await child.exited;
  return took;
}

function timeChildProcess(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = nodeSpawn(COMMAND[0], [], { stdio: 'ignore' });
    const took = performance.now() - t0;
    child.once('error', reject);
    child.once('exit', () => resolve(took));
  });
}

export function renderSpawnCost(r: SpawnCostResult): string[] {
  const rows = r.points.flatMap((p) => {
    const rss = `${(p.rssBytes / 1024 ** 2).toFixed(0)} MB`;
    return [
      [rss, 'native spawn (wakegate)', ms(p.native.p50), ms(p.native.p90), ms(p.native.p99), ratio(p.native.p50, p.childProcess.p50)],
      [rss, 'child_process.spawn (fork)', ms(p.childProcess.p50), ms(p.childProcess.p90), ms(p.childProcess.p99), '-'],
    ];
  });
  return [
    `### Spawn cost against the gateway's size, \`${r.command.join(' ')}\`, ${r.runs} runs per call and size (ms the call blocks the event loop)`,
    'The same process, at its own size and then with ballast filled in; the two calls alternate. Both return once the child has exec\'d.',
    markdownTable(['gateway RSS', 'call', 'p50', 'p90', 'p99', 'p50 / child_process'], rows),
  ];
}
