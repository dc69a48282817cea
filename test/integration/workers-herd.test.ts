// workers: 2 — a herd of first requests through both workers starts one instance, and the metrics of both
// workers add up at the primary's /metrics.
import t from 'tap';
import { needTool } from '../helpers/tools.js';
import { PROMTOOL, run } from '../helpers/prometheus.js';
import { app, runWorkers, sample, servedBy, starts } from '../helpers/workers.js';

t.test('a herd of first requests through 2 workers starts one instance, and every request is answered', async (t) => {
  const gw = await runWorkers(t, { a: app() });
  t.equal(gw.workerPids().length, 2, 'two workers are ready');
  const herd = await Promise.all(Array.from({ length: 120 }, () => gw.get('/slow?ms=50')));
  t.same(
    herd.map((r) => r.status),
    herd.map(() => 200),
    'all 120 answered 200',
  );
  t.equal(starts(gw.lines), 1, 'exactly one instance start');
  // The kernel hands each connection to whichever worker accepts first; more rounds until both have served.
  let sent = herd.length;
  for (let round = 0; round < 30 && servedBy(gw.lines).size < 2; round++) {
    const more = await Promise.all(Array.from({ length: 20 }, () => gw.get('/slow?ms=20')));
    t.ok(more.every((r) => r.status === 200), `round ${round}: answered`);
    sent += more.length;
  }
  await gw.waitFor(() => [...servedBy(gw.lines).values()].reduce((a, b) => a + b, 0) === sent);
  const served = servedBy(gw.lines);
  t.equal(served.size, 2, `both workers served requests (${JSON.stringify([...served])})`);
  t.equal(starts(gw.lines), 1, 'still one instance');

  const text = await gw.metrics();
  t.equal(sample(text, 'wakegate_requests_total{app="a",code="200"}'), sent, 'the request counter is the sum over the workers');
  t.equal(sample(text, 'wakegate_request_duration_seconds_count{app="a"}'), sent, 'and so is the duration histogram');
  t.equal(sample(text, 'wakegate_cold_starts_total{app="a",result="ok"}'), 1, 'one cold start, confirmed by a worker');
  t.equal(sample(text, 'wakegate_workers'), 2, 'two live workers');
  t.equal(sample(text, 'wakegate_worker_restarts_total'), 0, 'none restarted');
  t.equal(sample(text, 'wakegate_app_state{app="a",state="running"}'), 1, 'the primary sees the app running');
});

t.test('the aggregated /metrics passes promtool', async (t) => {
  if (!needTool(t, PROMTOOL, 'prometheus')) return;
  const gw = await runWorkers(t, { a: app() });
  await Promise.all(Array.from({ length: 10 }, () => gw.get()));
  const { code, output } = await run(PROMTOOL, ['check', 'metrics'], await gw.metrics());
  t.equal(code, 0, `promtool exit code; output:\n${output}`);
  t.equal(output.trim(), '', 'no lint problems');
});
