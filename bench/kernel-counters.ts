/**
 * `node dist/bench/kernel-counters.js`: the cost of one kernel-counter sample with many listeners and
 * connections (the idle-stop sampler of socket mode). Measures only; prints a markdown table.
 * Sizes: KC_LISTENERS (default 1000 TCP + 1000 Unix) and one established TCP connection per TCP listener.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { closeFd, netlinkDump, unixListen } from '../src/native/index.js';
import { type HeldListener, KernelCounters, ownSocketInodes, socketInode } from '../src/socket/kernel-counters.js';
import { inetDiagRequest, parseInetDiag } from '../src/socket/inet-diag.js';
import { NETLINK_SOCK_DIAG } from '../src/socket/netlink-message.js';
import { procNetTcp } from '../src/socket/proc-net.js';
import { parseUnixDiag, unixDiagRequest } from '../src/socket/unix-diag.js';
import { markdownTable, summarize } from './stats.js';

const count = Number(process.env.KC_LISTENERS ?? 1000);
const runs = 200;

interface Timing {
  /** Wall time until the result, µs. */
  readonly wall: number[];
  /** CPU time of the whole process (every thread: the dump runs on libuv's pool), µs. */
  readonly cpu: number[];
  /** Time the event loop was busy (not waiting for the pool), µs: what other requests wait behind. */
  readonly loop: number[];
}

async function time(fn: () => unknown): Promise<Timing> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up: JIT and page cache
  const wall: number[] = [];
  const cpu: number[] = [];
  const loop: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const used = process.cpuUsage();
    const elu = performance.eventLoopUtilization();
    await fn();
    const busy = performance.eventLoopUtilization(elu);
    const spent = process.cpuUsage(used);
    wall.push((performance.now() - start) * 1000);
    cpu.push(spent.user + spent.system);
    loop.push(busy.active * 1000);
  }
  return { wall, cpu, loop };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-kc-bench-'));
  const servers: net.Server[] = [];
  const clients: net.Socket[] = [];
  const unixFds: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer().listen(0, '127.0.0.1');
      servers.push(server);
      await new Promise((resolve) => server.once('listening', resolve));
      const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      clients.push(c);
      await new Promise((resolve) => c.once('connect', resolve));
      unixFds.push(unixListen(path.join(dir, `${i}.sock`), 16));
    }
    const ports = new Set(servers.map((s) => (s.address() as net.AddressInfo).port));
    const tcp: HeldListener[] = procNetTcp(4)
      .filter((r) => r.state === 10 && ports.has(r.localPort))
      .map((r) => ({ key: `tcp${r.localPort}`, kind: 'tcp', inode: r.inode }));
    const unix: HeldListener[] = unixFds.map((fd, i) => ({ key: `unix${i}`, kind: 'unix', inode: socketInode(fd) }));
    const all = [...tcp, ...unix];
    const netlink = new KernelCounters();
    const proc = new KernelCounters({ source: 'proc' });
    const check = await netlink.sample(all);
    const established = [...check.values()].reduce((n, c) => n + c.connections, 0);
    const dump = await netlinkDump(NETLINK_SOCK_DIAG, inetDiagRequest(4));
    const rows = parseInetDiag(dump).length;
    const exclude = ownSocketInodes();
    const unixDump = await netlinkDump(NETLINK_SOCK_DIAG, unixDiagRequest());
    const table: [string, Timing][] = [
      [`netlinkDump, TCP/IPv4 (${rows} sockets, ${dump.length} bytes)`, await time(() => netlinkDump(NETLINK_SOCK_DIAG, inetDiagRequest(4)))],
      [`netlinkDump, Unix (${parseUnixDiag(unixDump).length} sockets, ${unixDump.length} bytes)`, await time(() => netlinkDump(NETLINK_SOCK_DIAG, unixDiagRequest()))],
      ['parseInetDiag of that dump, every row (main thread)', await time(() => parseInetDiag(dump))],
      [`sample(${tcp.length} TCP listeners, ${established} connections)`, await time(() => netlink.sample(tcp))],
      [`sample(${unix.length} Unix listeners)`, await time(() => netlink.sample(unix))],
      [`sample(all ${all.length} listeners)`, await time(() => netlink.sample(all))],
      [`sample(all), exclude = ${exclude.size} own sockets`, await time(() => netlink.sample(all, { exclude }))],
      [`ownSocketInodes() (${exclude.size} sockets)`, await time(() => ownSocketInodes())],
      [`sample(all) from /proc/net (fallback)`, await time(() => proc.sample(all))],
    ];
    console.log(`${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, Linux ${os.release()}, ${runs} runs each\n`);
    console.log(
      markdownTable(
        ['operation', 'wall p50 µs', 'wall p90 µs', 'CPU p50 µs', 'CPU p90 µs', 'event loop p50 µs'],
        table.map(([name, { wall, cpu, loop }]) => {
          const [w, c, l] = [summarize(wall), summarize(cpu), summarize(loop)];
          return [name, w.p50.toFixed(0), w.p90.toFixed(0), c.p50.toFixed(0), c.p90.toFixed(0), l.p50.toFixed(0)];
        }),
      ),
    );
  } finally {
    for (const c of clients) c.destroy();
    for (const s of servers) s.close();
    for (const fd of unixFds) closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
