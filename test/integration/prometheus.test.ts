// The metrics endpoint checked by the real consumers: promtool's linter, and a Prometheus server that
// scrapes the admin listener while apps cold-start. A missing binary is a visible skip, which CI refuses.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fixtureApp, ROOT, sleep, startGateway, until } from '../helpers/gateway.js';
import { adminPort, PROMETHEUS, PROMTOOL, run, scrape, startPrometheus, type PromResponse } from '../helpers/prometheus.js';
import { needTool } from '../helpers/tools.js';

const ADMIN = { admin: { listen: '127.0.0.1:0' } };

t.test('promtool check metrics accepts /metrics', async (t) => {
  if (!needTool(t, PROMTOOL, 'prometheus')) return;
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost']) }, ADMIN);
  t.equal((await gw.get('a.localhost')).status, 200);
  const { status, contentType, text } = await scrape(gw);
  t.equal(status, 200);
  t.match(contentType, /^text\/plain; version=0\.0\.4/, 'the text exposition format');
  const { code, output } = await run(PROMTOOL, ['check', 'metrics'], text);
  // promtool exits 0 with no output when the exposition parses and passes its naming lint.
  t.equal(code, 0, `promtool exit code; output:\n${output}`);
  t.equal(output.trim(), '', 'no lint problems');
});

t.test('a real Prometheus scrapes the admin listener and counts cold starts', async (t) => {
  if (!needTool(t, PROMETHEUS, 'prometheus')) return;
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost'], { idleTimeout: '200ms' }) }, ADMIN);
  const prom = await startPrometheus(t, `127.0.0.1:${adminPort(gw)}`);
  // Polls an instant query until `done` holds for its first sample; returns the last answer either way.
  const poll = async (query: string, done: (value: string | undefined) => boolean, ms: number): Promise<PromResponse> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const answer = await prom.query(query);
      if ((answer.status === 'success' && done(answer.data?.result[0]?.value[1])) || Date.now() > deadline) return answer;
      await sleep(250);
    }
  };
  // Prometheus applies new targets only every 5 s, so wait for a first scrape before the clock matters.
  const up = await poll('up{job="wakegate"}', (v) => v === '1', 20_000);
  t.equal(up.data?.result[0]?.value[1], '1', `the admin endpoint is scraped: ${JSON.stringify(up)}; log:\n${prom.log()}`);

  // Three cold starts: each request finds the app stopped, then the idle timer stops it again.
  for (let i = 1; i <= 3; i++) {
    t.equal((await gw.get('a.localhost', `/cold${i}`)).status, 200, `request ${i}`);
    await until(() => gw.gateway.apps.get('a')!.state === 'stopped', 5000, `idle stop ${i}`);
  }
  t.equal(gw.runtime.starts, 3, 'three spawns');

  // Scrapes happen every second; allow a generous margin for a loaded CI host.
  const query = 'sum(wakegate_cold_starts_total{app="a",result="ok"})';
  const counted = await poll(query, (v) => v === '3', 20_000);
  const targets = await prom.query('up{job="wakegate"}');
  t.equal(counted.data?.result[0]?.value[1], '3', `${query} reached 3; last answer ${JSON.stringify(counted)}; up: ${JSON.stringify(targets.data?.result)}; log:\n${prom.log()}`);

  // The idle stops were scraped too, with their reason.
  const exits = await prom.query('sum(wakegate_instance_exits_total{app="a",reason="idle"})');
  t.ok(Number(exits.data?.result[0]?.value[1]) >= 2, `idle exits counted: ${JSON.stringify(exits.data?.result)}`);

  // rate() and increase() need two samples in their window; the series may be only one scrape old.
  await poll('count_over_time(wakegate_cold_start_seconds_count{app="a",phase="first_byte"}[1m])', (v) => Number(v) >= 2, 10_000);
  // Every dashboard query is valid PromQL to this Prometheus, and the cold-start panels have data.
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'examples/grafana/wakegate.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets ?? []) {
      // Grafana substitutes these before sending the query.
      const promql = expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replaceAll('$app', '.*');
      const answer = await prom.query(promql);
      t.equal(answer.status, 'success', `panel "${panel.title}": ${promql} ${answer.error ?? ''}`);
      if (/wakegate_cold_start/.test(expr) && !/result!=/.test(expr)) t.ok((answer.data?.result.length ?? 0) > 0, `panel "${panel.title}" has data: ${promql}`);
    }
  }
});
