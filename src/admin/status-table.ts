import type { AppSnapshot } from './snapshot.js';

/** `wakegate status`: one row per app, aligned columns, for people. `--json` prints the snapshots instead. */
export function statusTable(apps: readonly AppSnapshot[]): string {
  const header = ['APP', 'STATE', 'PID', 'MEMORY', 'REQUESTS', 'CONNS', 'COLD START', 'IDLE STOP IN'];
  const rows = apps.map((a) => [
    a.name,
    a.backoffMs > 0 ? `${a.state} (backoff ${seconds(a.backoffMs)})` : a.state,
    a.instance ? String(a.instance.pid) : '-',
    a.memoryBytes === null ? '-' : `${(a.memoryBytes / 1024 ** 2).toFixed(1)} MiB`,
    String(a.requests),
    String(a.connections),
    coldStart(a),
    a.idleStopInMs === null ? '-' : seconds(a.idleStopInMs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function coldStart(a: AppSnapshot): string {
  const cold = a.lastColdStart;
  if (!cold) return '-';
  if (cold.result !== 'ok') return cold.result;
  const ms = cold.firstByteMs ?? cold.acceptMs;
  return ms === null ? 'ok' : `${ms} ms`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}
