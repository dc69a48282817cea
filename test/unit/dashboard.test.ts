// The Grafana dashboard only queries metrics that the gateway really exports. The list of exported
// names comes from a live /metrics scrape, not a copy, so renaming a metric in src/ breaks this test
// instead of silently emptying a panel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fixtureApp, ROOT, startGateway } from '../helpers/gateway.js';
import { metricTypes, scrape } from '../helpers/prometheus.js';

interface Target { expr?: string; datasource?: { type?: string; uid?: string } }
interface Panel { id: number; title: string; type: string; datasource?: Target['datasource']; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query?: string | { query?: string }; definition?: string; multi?: boolean; includeAll?: boolean; datasource?: Target['datasource'] }
interface Dashboard { schemaVersion: number; templating: { list: Variable[] }; panels: Panel[] }

const dashboard = JSON.parse(readFileSync(join(ROOT, 'examples/grafana/wakegate.json'), 'utf8')) as Dashboard;
// Rows may nest panels; flatten so that a later regrouping of the dashboard does not hide queries.
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const panelExprs = panels.flatMap((p) => (p.targets ?? []).map((target) => ({ where: `panel "${p.title}"`, expr: target.expr ?? '' })));
const variableExprs = dashboard.templating.list
  .filter((v) => v.type === 'query')
  .map((v) => ({ where: `variable $${v.name}`, expr: typeof v.query === 'string' ? v.query : (v.query?.query ?? '') }));
const exprs = [...panelExprs, ...variableExprs];

// PromQL words that look like identifiers but are not metric names.
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names an expression selects: whatever identifier is left once strings, matchers, ranges, label lists and calls are removed. */
function metricNames(expr: string): string[] {
  const labelValues = /^\s*label_values\(\s*(?:([a-zA-Z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,\s*)?\w+\s*\)\s*$/.exec(expr);
  if (labelValues) return labelValues[1] ? [labelValues[1]] : [];
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // first, so braces inside strings do not count
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[\w$]+/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)\s*(\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!.toLowerCase())) continue; // a function call or a keyword
    names.add(m[1]!);
  }
  return [...names];
}

t.test('the extractor finds metric names and nothing else', async (t) => {
  t.same(metricNames('label_values(wakegate_app_state, app)'), ['wakegate_app_state']);
  t.same(metricNames('label_values(app)'), []);
  t.same(metricNames('sum by (app) (increase(wakegate_cold_starts_total{app=~"$app",result!="ok"}[1m]))'), ['wakegate_cold_starts_total']);
  t.same(metricNames('histogram_quantile(0.99, sum by (le, phase) (rate(x_seconds_bucket{a="}"}[$__rate_interval])))'), ['x_seconds_bucket']);
  t.same(metricNames('rate(a_total[5m]) and on (job, instance) b offset 1h'), ['a_total', 'b']);
  t.same(metricNames('sum(up) without (instance) > bool 1e3'), ['up']);
});

t.test('every metric the dashboard queries is exported by the gateway', async (t) => {
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost']) }, { admin: { listen: '127.0.0.1:0' } });
  // One request, so that the labelled histograms and counters have samples as well as TYPE lines.
  t.equal((await gw.get('a.localhost')).status, 200);
  const { status, text } = await scrape(gw);
  t.equal(status, 200, 'GET /metrics');
  const types = metricTypes(text);
  t.ok(types.size > 10, `exported ${types.size} metric families`);
  const exported = (name: string): boolean => {
    if (types.has(name)) return true;
    const base = /^(.*)_(?:bucket|sum|count)$/.exec(name)?.[1];
    const type = base === undefined ? undefined : types.get(base);
    return type === 'histogram' || (type === 'summary' && !name.endsWith('_bucket'));
  };
  t.ok(exprs.length >= 10, `${exprs.length} queries in the dashboard`);
  for (const { where, expr } of exprs) {
    const names = metricNames(expr);
    t.ok(names.length > 0, `${where} selects a metric: ${expr}`);
    for (const name of names) t.ok(exported(name), `${name} is exported (${where}: ${expr})`);
  }
});

t.test('the dashboard has a panel for each topic operators ask about', async (t) => {
  const topics: Array<[string, RegExp]> = [
    ['running instances', /\bwakegate_running_instances\b/],
    ['cold starts per minute per app', /sum by \(app\) \(increase\(wakegate_cold_starts_total\{[^}]*\}\[1m\]\)\)/],
    ['cold-start p50 by phase', /histogram_quantile\(0\.5, sum by \(le, phase\) \(rate\(wakegate_cold_start_seconds_bucket\b/],
    ['cold-start p99 by phase', /histogram_quantile\(0\.99, sum by \(le, phase\) \(rate\(wakegate_cold_start_seconds_bucket\b/],
    ['requests by code', /sum by \(code\) \(rate\(wakegate_requests_total\b/],
    ['memory per app', /sum by \(app\) \(wakegate_instance_memory_bytes\b/],
    ['exits by reason', /sum by \(reason\) \(increase\(wakegate_instance_exits_total\b/],
    ['app states', /\bwakegate_app_state\b/],
    ['in-flight requests', /\bwakegate_inflight_requests\b/],
    ['queued requests', /\bwakegate_queued_requests\b/],
  ];
  for (const [topic, pattern] of topics) t.ok(panelExprs.some((e) => pattern.test(e.expr)), topic);
  // Every per-app series honours the $app selector, or choosing an app would leave some panels unfiltered.
  for (const { where, expr } of panelExprs) {
    for (const m of expr.matchAll(/\b(wakegate_\w+)(\{[^}]*\})?/g)) {
      if (m[1] === 'wakegate_running_instances') continue; // has no app label
      t.match(m[2] ?? '', /app=~"\$app"/, `${m[1]} in ${where} is filtered by $app`);
    }
  }
});

t.test('datasource and variables make the dashboard importable anywhere', async (t) => {
  t.ok(dashboard.schemaVersion >= 36, 'a schema with datasource references by uid');
  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  t.match(vars.get('datasource'), { type: 'datasource', query: 'prometheus' });
  const app = vars.get('app');
  t.match(app, { type: 'query', multi: true, includeAll: true });
  const query = typeof app?.query === 'string' ? app.query : app?.query?.query;
  t.equal(query, 'label_values(wakegate_app_state, app)');
  const refs = [...panels.flatMap((p) => [p.datasource, ...(p.targets ?? []).map((x) => x.datasource)]), app?.datasource];
  for (const ref of refs) t.same(ref, { type: 'prometheus', uid: '${datasource}' }, 'no hard-coded datasource uid');
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});
