/**
 * `node dist/bench/activity-sampler.js`: the CPU the socket-mode idle sampler costs the gateway with many
 * RUNNING apps (while every app is stopped it samples nothing). Each app holds one listener, as the gateway
 * does; in the `connection` cases each has one open, silent connection, accepted by this process (as an
 * instance would). Measures only; prints a markdown table. Sizes: AS_APPS (1000), AS_SECONDS (20) per case.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type ActivitySample, ActivitySampler, type SampledTarget } from '../src/socket/activity-sampler.js';
import { socketInode } from '../src/socket/kernel-counters.js';
import { ListenSocket } from '../src/socket/listen-socket.js';
import { markdownTable } from './stats.js';

const apps = Number(process.env.AS_APPS ?? 1000);
const seconds = Number(process.env.AS_SECONDS ?? 20);

/** This process's own CPU time, as an instance's stats() would read a cgroup file. */
async function ownCpuNs(): Promise<number> {
  const fields = readFileSync('/proc/self/stat', 'latin1').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 1e7;
}

function targets(sockets: readonly ListenSocket[], seen: { activity: number }): SampledTarget[] {
  return sockets.map((s, i) => ({
    app: {
      name: `app${i}`,
      state: 'running',
      spec: { busyCpu: 0.02, startTimeoutMs: 10_000 },
      instance: { id: `i${i}`, stats: async () => ({ memoryBytes: null, cpuNs: await ownCpuNs() }) },
      activity: (_s: ActivitySample) => void seen.activity++,
      replaceUnresponsive: () => {
        throw new Error('nothing should look unresponsive here');
      },
    },
    listeners: [{ kind: s.kind, inode: socketInode(s.fd), appSocket: false }],
  }));
}

async function cpuOver(ms: number): Promise<{ cpuPct: number; loopPct: number }> {
  const used = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const spent = process.cpuUsage(used);
  const wall = performance.now() - start;
  return { cpuPct: ((spent.user + spent.system) / 1000 / wall) * 100, loopPct: performance.eventLoopUtilization(elu).utilization * 100 };
}

async function measure(kind: 'tcp' | 'unix', connected: boolean, dir: string): Promise<string[]> {
  const sockets: ListenSocket[] = [];
  const servers: net.Server[] = [];
  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < apps; i++) {
      const address = kind === 'tcp' ? ({ kind, host: '127.0.0.1', port: 0 } as const) : ({ kind, path: path.join(dir, `${i}.sock`) } as const);
      const s = await ListenSocket.open(`app${i}`, address, { backlog: 16 });
      sockets.push(s);
      if (!connected) continue;
      const server = net.createServer((c) => void c.on('error', () => {})).listen({ fd: s.fd });
      servers.push(server);
      const c = kind === 'tcp' ? net.connect(s.bound.kind === 'tcp' ? s.bound.port : 0, '127.0.0.1') : net.connect(address.kind === 'unix' ? address.path : '');
      clients.push(c);
      await new Promise((r) => c.once('connect', r));
    }
    const seen = { activity: 0 };
    const baseline = await cpuOver(seconds * 1000);
    const sampler = new ActivitySampler(() => targets(sockets, seen), 1000, (err) => console.error(err));
    sampler.start();
    const sampled = await cpuOver(seconds * 1000);
    await sampler.close();
    const net_ = sampled.cpuPct - baseline.cpuPct;
    return [
      `${apps} ${kind} apps${connected ? ', 1 silent connection each' : ''}`,
      String(sampler.stats.samples),
      `${baseline.cpuPct.toFixed(2)} %`,
      `${sampled.cpuPct.toFixed(2)} %`,
      `${net_.toFixed(2)} %`,
      `${(sampled.loopPct - baseline.loopPct).toFixed(2)} %`,
      String(seen.activity),
    ];
  } finally {
    for (const c of clients) c.destroy();
    // A server listening on a held fd closes that fd itself; the socket files go with the directory.
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    if (!connected) for (const s of sockets) s.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-as-bench-'));
  try {
    const rows = [await measure('tcp', false, dir), await measure('tcp', true, dir), await measure('unix', true, dir)];
    console.log(markdownTable(['case (sampleInterval 1s)', 'samples', 'CPU without sampler', 'CPU with sampler', 'sampler CPU (of one core)', 'event loop', 'activity calls'], rows));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
