// workers: 2 with freezeAfter: the primary freezes a quiet instance only once every worker says it is
// quiet there, pushes `frozen`, and a request through either worker asks the primary, which thaws it:
// no worker ever sends to the frozen instance, and no request fails or starts a second instance.
import t from 'tap';
import { app, bothServe, runWorkers, sample, servedBy, starts } from '../helpers/workers.js';
import { get as httpGet } from 'node:http';
import type { LogLine } from '../helpers/gateway.js';

/** A GET on a connection of its own (no keep-alive pool), so that the kernel picks the worker anew each time. */
function freshGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, headers: { host: 'a.localhost' }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

const toFrozen = (l: LogLine): boolean => l.app === 'a' && l.to === 'frozen';

t.test('a frozen instance is thawed by requests through either worker, and answers them all', async (t) => {
  const gw = await runWorkers(t, { a: app({ freezeAfter: '400ms', idleTimeout: '60s' }) });
  await bothServe(t, gw);
  const pids = new Set<number>();
  const thawedBy = new Set<number>();
  for (let cycle = 0; cycle < 12 && thawedBy.size < 2; cycle++) {
    const from = gw.lines.length;
    await gw.waitFor((l) => toFrozen(l) && gw.lines.indexOf(l) >= from, 20_000);
    const before = new Map(servedBy(gw.lines));
    const replies = await Promise.all(Array.from({ length: 20 }, () => freshGet(gw.port, '/requests')));
    t.same(
      replies.map((r) => r.status),
      replies.map(() => 200),
      `cycle ${cycle}: every request to the frozen app answered`,
    );
    for (const r of replies) pids.add((JSON.parse(r.body) as { pid: number }).pid);
    await gw.waitFor(() => [...servedBy(gw.lines).values()].reduce((a, b) => a + b, 0) >= [...before.values()].reduce((a, b) => a + b, 0) + 20);
    for (const [worker, n] of servedBy(gw.lines)) if (n > (before.get(worker) ?? 0)) thawedBy.add(worker);
  }
  t.equal(thawedBy.size, 2, 'both workers served requests that arrived while the app was frozen');
  t.equal(pids.size, 1, 'all by the one instance');
  t.equal(starts(gw.lines), 1, 'no second start');
  t.ok(gw.lines.some((l) => l.app === 'a' && l.from === 'frozen' && l.to === 'running'), 'thawed in the primary');
  t.notOk(gw.lines.some((l) => l.msg === 'request' && l.status !== 200), 'no request answered otherwise');
  const text = await gw.metrics();
  t.equal(sample(text, 'wakegate_instance_exits_total{app="a",reason="thaw_failed"}') ?? 0, 0, 'no thaw failed');
});

t.test('a frozen instance is stopped at idleTimeout with workers too', async (t) => {
  const gw = await runWorkers(t, { a: app({ freezeAfter: '300ms', idleTimeout: '1500ms' }) });
  t.equal((await gw.get()).status, 200);
  await gw.waitFor(toFrozen, 20_000);
  const stopped = await gw.waitFor((l) => l.msg === 'instance of a stopped (idle)', 20_000);
  t.ok(gw.lines.indexOf(stopped) > gw.lines.findIndex(toFrozen), 'the idle stop came while it was frozen');
  t.ok(gw.lines.some((l) => l.msg === 'idle: every worker is quiet'), 'the workers were asked first');
  t.equal((await gw.get()).status, 200, 'and the next request starts it again');
  t.equal(starts(gw.lines), 2);
});
