import type { AppSnapshot } from './snapshot.js';

/** `wakegate status`: one row per app, aligned columns, for people. `--json` prints the snapshots instead. */
export function statusTable(apps: readonly AppSnapshot[]): string {
  // Only a config with dependency groups gets their column.
  const groups = apps.some((a) => (a.dependsOn ?? []).length > 0);
  const header = ['APP', 'STATE', 'PID', 'MEMORY', 'REQUESTS', 'CONNS', 'COLD START', 'IDLE STOP IN', ...(groups ? ['DEPENDS ON'] : [])];
  const rows = apps.map((a) => [
    a.name,
    state(a),
    a.instance ? String(a.instance.pid) : '-',
    a.memoryBytes === null ? '-' : `${(a.memoryBytes / 1024 ** 2).toFixed(1)} MiB`,
    String(a.requests),
    String(a.connections),
    coldStart(a),
    a.idleStopInMs === null ? '-' : seconds(a.idleStopInMs),
    ...(groups ? [(a.dependsOn ?? []).join(',') || '-'] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** The state, with why it cannot start (backoff) or why it stays up (its running dependents). */
function state(a: AppSnapshot): string {
  const notes = [...(a.backoffMs > 0 ? [`backoff ${seconds(a.backoffMs)}`] : []), ...((a.heldBy ?? []).length > 0 ? [`held by: ${a.heldBy.join(', ')}`] : [])];
  return notes.length === 0 ? a.state : `${a.state} (${notes.join('; ')})`;
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
