import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { PromRecorder, REQUEST_BUCKETS } from '../../src/metrics/prom.js';
import { mulberry32 } from '../helpers/seeded-random.js';

/** The request series of a scrape, in a stable order. */
async function requestLines(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((line) => /^wakegate_request(s_total|_duration_seconds)/.test(line))
    .sort();
}

t.test('request metrics tallied per request scrape as prom-client observing each one would show them', async (t) => {
  const recorder = new PromRecorder(() => []);
  // The reference: what prom.ts did before, a counter and a histogram fed by every request.
  const reference = new Registry();
  const total = new Counter({ name: 'wakegate_requests_total', help: 'x', labelNames: ['app', 'code'], registers: [reference] });
  const seconds = new Histogram({ name: 'wakegate_request_duration_seconds', help: 'x', labelNames: ['app'], buckets: [...REQUEST_BUCKETS], registers: [reference] });
  const random = mulberry32(13);
  const apps = ['a', 'b', ''];
  const statuses = [200, 200, 204, 404, 502, 0];
  // Twice, with a scrape between: the second must show totals, not what came since the first.
  for (const round of [1, 2]) {
    for (let i = 0; i < 2000; i++) {
      const app = apps[Math.floor(random() * apps.length)]!;
      const status = statuses[Math.floor(random() * statuses.length)]!;
      // Exact bucket bounds, values past the last one, and ordinary ones.
      const pick = random();
      const value = pick < 0.2 ? REQUEST_BUCKETS[Math.floor(random() * REQUEST_BUCKETS.length)]! : pick < 0.25 ? 61 + random() : random() * 0.05;
      recorder.request(app, status, value);
      total.inc({ app, code: String(status === 0 ? 499 : status) });
      if (app) seconds.observe({ app }, value);
    }
    const ours = await requestLines(recorder.registry);
    t.ok(ours.some((line) => line.startsWith('wakegate_request_duration_seconds_bucket{le="+Inf",app="a"}')), `round ${round}: a histogram series`);
    t.same(ours, await requestLines(reference), `round ${round}: same series and values`);
  }
});
