/** The markdown of the warm socket-mode scenario (socket-throughput.ts). */
import { markdownTable } from './stats.js';
import { median, SOCKET_BASELINES, type SocketPathName, type SocketThroughputResult } from './socket-throughput.js';

const LABELS: Readonly<Record<SocketPathName, string>> = {
  direct: 'direct: app on its own TCP socket',
  socket: 'socket mode: app on a wakegate-held TCP socket',
  'nginx-direct': 'nginx → app on its own Unix socket',
  'nginx-socket': 'nginx → app on a wakegate-held Unix socket',
};

export function renderSocketThroughput(r: SocketThroughputResult): string[] {
  const baseline = new Map(SOCKET_BASELINES);
  const cpu = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
  const rows = r.order.map((name): string[] => {
    const p = r.paths[name];
    if (p.status !== 'ok') return [LABELS[name], p.status === 'absent' ? `absent (${p.missing})` : `failed: ${p.error.split('\n')[0]}`, '', '', '', '', '', '', '', '', ''];
    const base = baseline.get(name);
    const b = base && r.paths[base];
    const paired = r.pairedRatios[name];
    return [
      LABELS[name],
      Math.round(p.reqPerSec).toLocaleString('en-US'),
      b?.status === 'ok' ? `${(p.reqPerSec / b.reqPerSec).toFixed(3)}×` : '-',
      paired ? `${median(paired).toFixed(3)}× (${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)})` : '-',
      (p.latencyUs.p50 / 1000).toFixed(2),
      (p.latencyUs.p99 / 1000).toFixed(2),
      `${Math.round(Math.min(...p.runs.map((x) => x.wrk.reqPerSec)))}–${Math.round(Math.max(...p.runs.map((x) => x.wrk.reqPerSec)))}`,
      String(p.errors),
      cpu(p.gatewayCpuUsPerRequest),
      cpu(p.nginxCpuUsPerRequest),
      p.appCpuUsPerRequest.toFixed(1),
    ];
  });
  return [
    `### Socket mode, warm: \`wrk -t${r.threads} -c${r.connections} -d${r.durationS}s --latency\`, ${r.rounds} run(s) per path, each after a ${r.warmupS} s warm-up`,
    `\`${r.app}\` spawned as the process runtime spawns it, on a socket bound before it: by the bench (direct) or held by \`wakegate run\` ` +
      `(\`apps.<name>.listen\`, woken by the warm-up's first connection). nginx: 1 worker, keepalive 64 to the Unix socket. ` +
      `All targets stay up for the whole scenario; each round measures every path, the first in the order of the table, the next in reverse. ` +
      `req/s and p50: the median run's (every run's req/s is in the JSON report); p99: the worst run's; CPU per request: over all runs. ` +
      `Paired: each round's run over its baseline's run of the same round, median (min–max) over the rounds. ` +
      (r.pinned ? `wrk pinned to CPU ${r.pinned.wrk}, app, nginx and gateway to CPU ${r.pinned.targets} (taskset), on both sides alike; ` : `${r.cpus} CPU shared by wrk, proxy and app; `) +
      `CPU from /proc/<pid>/stat (${r.clockTicksPerS} Hz). Load average (1 min) ${r.loadAverage1m.before.toFixed(2)} before, ` +
      `${r.loadAverage1m.after.toFixed(2)} after. nginx: ${r.tools.nginx}.`,
    markdownTable(['path', 'req/s', 'vs baseline', 'paired vs baseline', 'p50 ms', 'p99 ms', 'runs req/s (min–max)', 'errors', 'gateway CPU µs/req', 'nginx CPU µs/req', 'app CPU µs/req'], rows),
  ];
}
