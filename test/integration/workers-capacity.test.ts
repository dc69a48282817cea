// workers: 2 — capacity runs in the primary: starts asked for by either worker evict the least recently
// used instance, the workers are asked before it stops, and never more than maxRunning instances exist.
import t from 'tap';
import { fixtureApp } from '../helpers/gateway.js';
import { until } from '../helpers/systemd-wakegate.js';
import { runWorkers, sample } from '../helpers/workers.js';

t.test('maxRunning 2 over 3 apps through two workers: a, used least recently, is evicted for c', async (t) => {
  const apps = Object.fromEntries(['a', 'b', 'c'].map((n) => [n, fixtureApp([`${n}.localhost`], { idleTimeout: '1h' })]));
  const gw = await runWorkers(t, apps, { capacity: { maxRunning: 2 } });
  // The primary sees a worker's use as the worker's busy and quiet reports: each app is quiet there before the next.
  for (const n of ['a', 'b']) {
    t.equal((await gw.get('/', `${n}.localhost`)).status, 200, `${n} answered`);
    await until(`${n} quiet in the primary`, () => gw.metrics(), (text) => sample(text, `wakegate_inflight_requests{app="${n}"}`) === 0, 10_000);
  }
  const c = await gw.get('/', 'c.localhost');
  t.equal(c.status, 200, `c answered once a was evicted: ${c.body}`);
  const line = await gw.waitFor((l) => l.app === 'a' && l.reason === 'max_running' && 'freedBytes' in l, 10_000);
  t.match(line.msg, /^evicting a \(max_running\)/);
  t.ok(gw.lines.some((l) => l.msg === 'idle: every worker is quiet' && l.app === 'a'), 'the workers were asked before the stop');
  // The most instances alive at once, from the primary's state-change log lines.
  const states = new Map<string, string>();
  let peak = 0;
  for (const l of gw.lines) {
    if (typeof l.app !== 'string' || typeof l.to !== 'string') continue;
    states.set(l.app, l.to);
    peak = Math.max(peak, [...states.values()].filter((s) => s !== 'stopped').length);
  }
  t.ok(peak > 0 && peak <= 2, `never more than 2 instances (peak ${peak})`);
  const text = await gw.metrics();
  t.equal(sample(text, 'wakegate_evictions_total{app="a",reason="max_running"}'), 1);
  t.equal(sample(text, 'wakegate_instance_exits_total{app="a",reason="evicted"}'), 1);
  t.equal(sample(text, 'wakegate_app_state{app="b",state="running"}'), 1, 'b still runs');
});
