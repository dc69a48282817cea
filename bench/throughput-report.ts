/** The markdown, summary rows and chart rows of the L7 throughput scenario (throughput.ts). */
import { markdownTable } from './stats.js';
import { median } from './socket-throughput.js';
import { LOADS, type LoadName, type LoadResult, type PathEntry, type ThroughputApp, type ThroughputResult } from './throughput.js';

const DETAIL: Readonly<Record<string, string>> = {
  direct: 'the app on its own TCP socket',
  wakegate: '`wakegate run`, runtime process, the app on its Unix socket',
  nginx: 'keepalive 64 to the app\'s Unix socket',
  haproxy: 'keep-alive both sides, `http-reuse always`, to the app\'s Unix socket',
  'http-proxy': 'bench/http-proxy-server.ts, a keep-alive agent to the app\'s Unix socket',
};

export function renderThroughput(r: ThroughputResult): string[] {
  const t = r.tools;
  const load = (n: LoadName): number => LOADS.find((l) => l.name === n)!.connections;
  const intro = [
    `### L7 throughput: \`wrk -t${r.threads} -c1\` and \`-c50 -d${r.durationS}s --latency\`, ${r.rounds} round(s)` + (r.warmupS > 0 ? `, each path warmed ${r.warmupS} s at c=50 first` : ', no warm-up'),
    `The same app on every path. ${r.cpus} × ${r.cpuModel}; ` +
      (r.pinned ? `wrk pinned to CPU ${r.pinned.wrk}, the app and the proxy to CPU ${r.pinned.targets} (taskset), alike on every path. ` : `wrk, proxy and app share ${r.cpus} CPU. `) +
      `Every path stays up for all of its app's rounds; each round measures every path, odd rounds in reverse order. ` +
      `req/s, p50 and p99: medians over the rounds; × direct and p50 added: round by round against direct in the same round, median (min–max). ` +
      `Proxy CPU per request: utime+stime of the proxy's processes (nginx: master and worker) from /proc/<pid>/stat (${r.clockTicksPerS} Hz) over all runs. ` +
      `Load average (1 min) ${r.loadAverage1m.before.toFixed(2)} before, ${r.loadAverage1m.after.toFixed(2)} after. ` +
      `wrk: ${t.wrk.replace(/\s*Copyright.*$/, '')}; nginx: ${t.nginx}; HAProxy: ${t.haproxy.replace(/ - https.*$/, '')}; ${t.httpProxy}; node: ${t.node}.`,
    `Paths: ${r.apps[0]?.paths.map((p) => `${p.label} (${DETAIL[p.kind] ?? ''})`).join('; ')}.`,
  ].join('\n\n');
  const tables = r.apps.flatMap((app) => LOADS.map((l) => `**${app.name}** (\`${app.file}\`), c=${load(l.name)}\n\n${loadTable(app, l.name)}`));
  return [intro, ...tables, goalsTable(r)];
}

function loadTable(app: ThroughputApp, name: LoadName): string {
  const cpu = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
  // Latency added is the c=1 figure: at c=50 a p50 is mostly queueing, whose difference means little.
  const added = name === 'c1';
  const header = ['path', 'req/s', '× direct', 'p50 ms', 'p99 ms', ...(added ? ['p50 added µs'] : []), 'proxy CPU µs/req', 'app CPU µs/req', 'errors'];
  const blank = (first: string): string[] => [first, ...header.slice(2).map(() => '')];
  const rows = app.paths.map((p): string[] => {
    const res = p.result;
    if (res.status !== 'ok') return [p.label, ...blank(res.status === 'absent' ? `absent (${res.missing})` : `failed: ${res.error.split('\n')[0]}`)];
    const l = res.loads[name];
    return [
      p.label,
      Math.round(l.reqPerSec).toLocaleString('en-US'),
      spread(l.pairedVsDirect, (v) => `${v.toFixed(2)}×`),
      (l.latencyUs.p50 / 1000).toFixed(3),
      (l.latencyUs.p99 / 1000).toFixed(3),
      ...(added ? [spread(l.p50AddedUs, (v) => v.toFixed(0))] : []),
      cpu(l.proxyCpuUsPerRequest),
      l.appCpuUsPerRequest.toFixed(1),
      String(l.errors),
    ];
  });
  return markdownTable(header, rows);
}

/** The median, with the range over the rounds when there are several. */
function spread(xs: readonly number[] | null, f: (v: number) => string): string {
  if (!xs || xs.length === 0) return '-';
  return xs.length === 1 ? f(xs[0]!) : `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
}

function goalsTable(r: ThroughputResult): string {
  const rows = r.goals.map((g) => [g.goal, g.measured === null ? '-' : `${g.measured.toFixed(g.unit === '×' ? 2 : 0)} ${g.unit}`, g.met === null ? 'not measured' : g.met ? 'met' : 'not met']);
  return `**Issue 13's goals** for wakegate, 1 worker, on ${r.apps[0]?.name ?? 'the first app'} (facts, not assertions)\n\n${markdownTable(['goal', 'measured', ''], rows)}`;
}

function ok(p: PathEntry | undefined, name: LoadName): LoadResult | undefined {
  return p?.result.status === 'ok' ? p.result.loads[name] : undefined;
}

/** Run.ts's summary: each proxy's c=50 req/s against direct, wakegate's c=1 latency and CPU beside nginx's. */
export function throughputSummaryRows(r: ThroughputResult): string[][] {
  const rows: string[][] = [];
  const x = (v: readonly number[] | null): string => (v ? `${median(v).toFixed(2)}x paired` : '-');
  for (const app of r.apps) {
    const direct = ok(app.paths.find((p) => p.id === 'direct'), 'c50');
    for (const p of app.paths.filter((q) => q.id !== 'direct')) {
      const l = ok(p, 'c50');
      if (l && direct) rows.push([`throughput c=50, ${app.name}, ${p.label} (req/s)`, l.reqPerSec.toFixed(0), `${direct.reqPerSec.toFixed(0)} (direct)`, x(l.pairedVsDirect)]);
    }
  }
  const hello = r.apps[0];
  const gw = hello && ok(hello.paths.find((p) => p.kind === 'wakegate'), 'c1');
  const d1 = hello && ok(hello.paths.find((p) => p.id === 'direct'), 'c1');
  if (gw && d1) rows.push([`c=1 p50, ${hello.name}, wakegate (ms)`, (gw.latencyUs.p50 / 1000).toFixed(3), `${(d1.latencyUs.p50 / 1000).toFixed(3)} (direct)`, `+${median(gw.p50AddedUs ?? [0]).toFixed(0)} µs paired`]);
  const gw50 = hello && ok(hello.paths.find((p) => p.kind === 'wakegate'), 'c50');
  const ngx = hello && ok(hello.paths.find((p) => p.id === 'nginx'), 'c50');
  if (gw50?.proxyCpuUsPerRequest != null && ngx?.proxyCpuUsPerRequest != null) {
    rows.push([`proxy CPU per request c=50, ${hello!.name} (µs)`, gw50.proxyCpuUsPerRequest.toFixed(1), `${ngx.proxyCpuUsPerRequest.toFixed(1)} (nginx)`, `${(gw50.proxyCpuUsPerRequest / ngx.proxyCpuUsPerRequest).toFixed(2)}x`]);
  }
  return rows;
}

/** The chart's bars: c=50 req/s per app and path. */
export function throughputChartRows(r: ThroughputResult): Array<{ app: string; path: string; reqPerSec: number }> {
  return r.apps.flatMap((app) => app.paths.flatMap((p) => {
    const l = ok(p, 'c50');
    return l ? [{ app: app.name, path: p.label, reqPerSec: l.reqPerSec }] : [];
  }));
}
