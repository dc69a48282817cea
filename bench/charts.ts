/**
 * Hand-written SVG charts for the bench notes: no dependency, deterministic output (same result, same bytes,
 * so a re-render diffs cleanly), standalone files that any browser or rsvg-convert renders at 800 px wide.
 */
import { PATH_LABELS, type ColdStartPath, type ColdStartResult } from './cold-start.js';

const WIDTH = 800;
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
// Okabe-Ito: tells apart for the common colour-vision deficiencies and stays distinct in greyscale print.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000', '#F0E442'];
// A bare path and the wrapper measured against it share a hue family, light for the bare one.
const PATH_COLORS: Readonly<Record<ColdStartPath, string>> = {
  'bare-process': '#56B4E9',
  'gateway-process': '#0072B2',
  'socket-activate': '#009E73',
  'bare-runc': '#E69F00',
  'gateway-oci': '#D55E00',
  'gateway-nspawn': '#CC79A7',
};
const SHORT_NAMES: Readonly<Record<ColdStartPath, string>> = {
  'bare-process': 'bare fork/exec',
  'gateway-process': 'gateway (process)',
  'socket-activate': 'systemd-socket-activate',
  'bare-runc': 'bare runc run',
  'gateway-oci': 'gateway (oci)',
  'gateway-nspawn': 'gateway (nspawn)',
};

/** Text from results (app names, paths) goes into XML: escape it, attributes included. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 0 to a round number at or above `max`, in steps of 1, 2, 2.5 or 5 × 10^k. */
export function niceTicks(max: number, target = 6): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const n = Math.ceil(max / step - 1e-9);
  // toPrecision strips the binary noise of i × step (0.30000000000000004).
  return Array.from({ length: n + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(s)}</text>`;
}

function svg(height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(WIDTH / 2, 24, title, 'font-size="16" font-weight="bold" text-anchor="middle" fill="#222"'),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * A strip plot: one row per path, every sample a dot on a linear ms axis that starts at 0 (so widths compare
 * as ratios), with the p50 as a solid bar and the p99 as a dashed one. Dots are spread vertically by a fixed
 * sequence rather than randomly, so that equal values do not hide each other and the output is reproducible.
 */
export function coldStartChart(r: ColdStartResult): string {
  const left = 200;
  const right = 30;
  const top = 62;
  const rowH = 56;
  const plotW = WIDTH - left - right;
  const height = top + r.paths.length * rowH + 56;
  const bottom = top + r.paths.length * rowH;
  const ticks = niceTicks(Math.max(...r.paths.flatMap((p) => p.samplesMs), 1));
  const x = (v: number): number => left + (v / ticks[ticks.length - 1]!) * plotW;
  const body: string[] = [];
  // Legend, top right: what a dot and each marker mean.
  const lx = WIDTH - right - 330;
  body.push(
    `<circle cx="${lx}" cy="42" r="4" fill="#777" fill-opacity="0.6"/>`,
    text(lx + 9, 46, 'one run', 'fill="#333"'),
    `<line x1="${lx + 80}" y1="35" x2="${lx + 80}" y2="49" stroke="#222" stroke-width="3"/>`,
    text(lx + 88, 46, 'p50', 'fill="#333"'),
    `<line x1="${lx + 135}" y1="35" x2="${lx + 135}" y2="49" stroke="#222" stroke-width="2" stroke-dasharray="3,2"/>`,
    text(lx + 143, 46, 'p99 (nearest rank)', 'fill="#333"'),
  );
  r.paths.forEach((p, row) => {
    const y0 = top + row * rowH;
    const mid = y0 + rowH / 2;
    if (row % 2 === 0) body.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${rowH}" fill="#f4f4f4"/>`);
    body.push(
      text(left - 10, mid - 2, SHORT_NAMES[p.path], 'text-anchor="end" font-weight="bold" fill="#222"'),
      text(left - 10, mid + 14, `p50 ${p.summary.p50.toFixed(1)} · p99 ${p.summary.p99.toFixed(1)} ms`, 'text-anchor="end" font-size="11" fill="#555"'),
      `<g><title>${escapeXml(PATH_LABELS[p.path])}</title>`,
    );
    p.samplesMs.forEach((v, i) => {
      const jitter = (((i * 0.618034) % 1) - 0.5) * rowH * 0.6;
      body.push(`<circle cx="${x(v).toFixed(1)}" cy="${(mid + jitter).toFixed(1)}" r="3.5" fill="${PATH_COLORS[p.path]}" fill-opacity="0.55" stroke="${PATH_COLORS[p.path]}" stroke-width="0.5"/>`);
    });
    const bar = (v: number, extra: string): string =>
      `<line x1="${x(v).toFixed(1)}" y1="${y0 + 6}" x2="${x(v).toFixed(1)}" y2="${y0 + rowH - 6}" stroke="#222" ${extra}/>`;
    body.push(bar(p.summary.p50, 'stroke-width="3"'), bar(p.summary.p99, 'stroke-width="2" stroke-dasharray="3,2"'), '</g>');
  });
  // Gridlines after the row shading so they show through it, with the axis along the bottom.
  for (const t of ticks) {
    body.push(
      `<line x1="${x(t).toFixed(1)}" y1="${top}" x2="${x(t).toFixed(1)}" y2="${bottom + 4}" stroke="#bbb" stroke-width="0.6" stroke-dasharray="2,3"/>`,
      text(x(t), bottom + 18, String(t), 'text-anchor="middle" fill="#333"'),
    );
  }
  body.push(
    `<line x1="${left}" y1="${bottom}" x2="${left + plotW}" y2="${bottom}" stroke="#333"/>`,
    text(left + plotW / 2, bottom + 40, 'request (or spawn, for the bare paths) to first response header, ms', 'text-anchor="middle" fill="#333"'),
  );
  return svg(height, `Cold start of ${r.command.join(' ')}: ${r.runs} runs per path`, body);
}

function reqPerSec(v: number): string {
  return v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : v >= 1000 ? `${(v / 1000).toFixed(2)}k` : v.toFixed(0);
}

/** Grouped bars: one group per app, one bar per path in a fixed colour, each labelled with its req/s. */
export function throughputChart(rows: ReadonlyArray<{ app: string; path: string; reqPerSec: number }>): string {
  const height = 400;
  const left = 70;
  const right = 20;
  const top = 74;
  const bottom = height - 50;
  const plotW = WIDTH - left - right;
  const apps = [...new Set(rows.map((r) => r.app))];
  const paths = [...new Set(rows.map((r) => r.path))];
  const color = (path: string): string => PALETTE[paths.indexOf(path) % PALETTE.length]!;
  // Headroom above the tallest bar for its label.
  const ticks = niceTicks(Math.max(...rows.map((r) => r.reqPerSec), 1) * 1.1, 5);
  const y = (v: number): number => bottom - (v / ticks[ticks.length - 1]!) * (bottom - top);
  const body: string[] = [];
  // Legend in one row under the title; entries are sized from their text, wrapping when the row is full.
  let lx = left;
  let ly = 44;
  for (const p of paths) {
    const w = 22 + p.length * 7;
    if (lx + w > WIDTH - right) [lx, ly] = [left, ly + 18];
    body.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color(p)}"/>`, text(lx + 17, ly, p, 'fill="#333"'));
    lx += w + 14;
  }
  for (const t of ticks) {
    body.push(
      `<line x1="${left}" y1="${y(t).toFixed(1)}" x2="${left + plotW}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`,
      // Tick values are round: "40k", not "40.0k".
      text(left - 8, y(t) + 4, t >= 1000 ? `${Number((t / 1000).toFixed(1))}k` : String(t), 'text-anchor="end" fill="#333"'),
    );
  }
  const groupW = plotW / Math.max(apps.length, 1);
  const barW = Math.min(70, (groupW * 0.8) / Math.max(paths.length, 1));
  apps.forEach((app, g) => {
    const inGroup = paths.filter((p) => rows.some((r) => r.app === app && r.path === p));
    const x0 = left + g * groupW + (groupW - inGroup.length * barW) / 2;
    inGroup.forEach((p, i) => {
      const v = rows.find((r) => r.app === app && r.path === p)!.reqPerSec;
      const bx = x0 + i * barW;
      const cx = bx + barW / 2;
      body.push(`<rect x="${(bx + 1).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(bottom - y(v)).toFixed(1)}" fill="${color(p)}"><title>${escapeXml(`${app}, ${p}: ${v.toFixed(0)} req/s`)}</title></rect>`);
      // Narrow bars get their label turned upright so neighbouring labels never overlap.
      const label = reqPerSec(v);
      body.push(
        barW >= label.length * 7 + 4
          ? text(cx, y(v) - 5, label, 'text-anchor="middle" font-size="11" fill="#222"')
          : `<text transform="translate(${(cx + 4).toFixed(1)},${(y(v) - 5).toFixed(1)}) rotate(-90)" font-size="11" fill="#222">${escapeXml(label)}</text>`,
      );
    });
    // Long names are cut to the group's width (the full name stays in each bar's tooltip).
    const fits = Math.max(3, Math.floor(groupW / 8));
    const name = app.length > fits ? `${app.slice(0, fits - 1)}…` : app;
    body.push(text(left + g * groupW + groupW / 2, bottom + 20, name, 'text-anchor="middle" font-weight="bold" fill="#222"'));
  });
  body.push(
    `<line x1="${left}" y1="${bottom}" x2="${left + plotW}" y2="${bottom}" stroke="#333"/>`,
    `<text transform="translate(18,${((top + bottom) / 2).toFixed(1)}) rotate(-90)" text-anchor="middle" fill="#333">requests per second</text>`,
  );
  return svg(height, 'Throughput per app and path', body);
}
