// workers: 2 — the idle stop sees the requests of every worker: the app stops once, after idleTimeout of
// quiet in all of them, and a request that arrives while the stop is being decided is never sent to the
// instance on its way out.
import t from 'tap';
import { fixtureApp } from '../helpers/gateway.js';
import { closed, loopbackAgent, nextMessage, openWebSocket } from '../helpers/websocket.js';
import { app, bothServe, runWorkers, sample, starts } from '../helpers/workers.js';

const idleStops = (lines: ReadonlyArray<Record<string, unknown>>): number => lines.filter((l) => l.msg === 'instance of a stopped (idle)').length;

t.test('traffic on both workers, then quiet: the app stops once, after idleTimeout', async (t) => {
  const gw = await runWorkers(t, { a: app({ idleTimeout: '1s' }) });
  await bothServe(t, gw);
  const quietSince = Date.now();
  const stopped = await gw.waitFor((l) => l.msg === 'instance of a stopped (idle)', 20_000);
  // A lower bound only: a loaded machine makes the stop later, never earlier.
  t.ok(Date.parse(stopped.time as string) - quietSince >= 1000, 'not before idleTimeout of quiet');
  t.ok(gw.lines.some((l) => l.msg === 'idle: every worker is quiet'), 'the workers were asked first');
  t.equal(starts(gw.lines), 1, 'one instance served everything');
  const text = await gw.metrics();
  t.equal(sample(text, 'wakegate_app_state{app="a",state="stopped"}'), 1, 'stopped');
  t.equal(sample(text, 'wakegate_instance_exits_total{app="a",reason="idle"}'), 1, 'one idle exit');
  // And it starts again for the next request, through either worker.
  t.equal((await gw.get()).status, 200);
  t.equal(starts(gw.lines), 2);
});

t.test('a request that arrives while the idle stop is decided is answered, never 502', async (t) => {
  const gw = await runWorkers(t, { a: app({ idleTimeout: '300ms' }) });
  const statuses: number[] = [];
  for (let cycle = 0; cycle < 6; cycle++) {
    const from = gw.lines.length;
    statuses.push((await gw.get()).status);
    // Fired as soon as the primary says it parks the app: the burst lands in the park, the stop or after it.
    await gw.waitFor((l) => l.msg === 'idle: asking the workers before the stop' && gw.lines.indexOf(l) >= from, 20_000);
    const burst = await Promise.all(Array.from({ length: 8 }, () => gw.get('/slow?ms=20')));
    statuses.push(...burst.map((r) => r.status));
  }
  t.same(
    statuses,
    statuses.map(() => 200),
    'every request answered 200',
  );
  t.notOk(
    gw.lines.some((l) => l.msg === 'request' && l.status === 502),
    'no 502 anywhere',
  );
  t.ok(idleStops(gw.lines) >= 1, `the app did idle out in between (${idleStops(gw.lines)} times)`);
});

t.test('a WebSocket through a worker echoes, and keeps its app up until it closes', async (t) => {
  // `clock` goes idle after three of live's idle timeouts: its idle stop is the event that says they passed.
  const gw = await runWorkers(t, {
    live: fixtureApp(['live.localhost'], { idleTimeout: '300ms' }),
    clock: fixtureApp(['clock.localhost'], { idleTimeout: '900ms' }),
  });
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  const ws = await openWebSocket(gw.port, 'live.localhost', agent);
  ws.send('hello through a worker');
  t.equal(await nextMessage(ws), 'hello through a worker');
  t.equal((await gw.get('/', 'clock.localhost')).status, 200);
  await gw.waitFor((l) => l.app === 'clock' && l.reason === 'idle', 20_000);
  t.notOk(gw.lines.some((l) => l.app === 'live' && l.reason === 'idle'), 'live never stopped meanwhile');
  ws.send('still there?');
  t.equal(await nextMessage(ws), 'still there?');
  ws.close();
  await closed(ws);
  await gw.waitFor((l) => l.app === 'live' && l.reason === 'idle', 20_000);
  t.pass('closed, the app goes idle');
});
