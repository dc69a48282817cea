// workers: 2 — a worker that dies loses only its own requests and is replaced; an instance that crashes
// fails the requests in flight on it in every worker with the same 502 as in-process.
import t from 'tap';
import { Agent, request } from 'undici';
import { alive, until } from '../helpers/gateway.js';
import { app, bothServe, HOST, busyOnBoth, quietNow, runWorkers, sample } from '../helpers/workers.js';

t.test('SIGKILL of a worker: only its in-flight requests fail, it is replaced, nothing stays held', async (t) => {
  const gw = await runWorkers(t, { a: app({ idleTimeout: '1s' }) });
  await bothServe(t, gw);
  // Both quiet first, so that the busy lines below are about the slow requests.
  await quietNow(gw);
  const slow = await busyOnBoth(gw, '/slow?ms=6000');
  const [victim, survivor] = gw.workerPids();
  process.kill(victim!, 'SIGKILL');
  const outcomes = (await Promise.all(slow)).map((r) => (r === 'cut' ? r : r.status));
  const ok = outcomes.filter((o) => o === 200).length;
  const cut = outcomes.filter((o) => o === 'cut').length;
  t.equal(ok + cut, outcomes.length, `each request was answered 200 or cut with its worker, none got an error status (${outcomes.join(' ')})`);
  t.ok(cut >= 1, `the dead worker's requests were lost (${cut})`);
  const bySurvivor = (): number => gw.lines.filter((l) => l.msg === 'request' && l.pid === survivor && l.url === '/slow?ms=6000').length;
  // Its request lines are still on their way through the log pipe when the answers are in.
  await until(() => bySurvivor() >= ok, 10_000, 'the request lines of the other worker').catch(() => undefined);
  t.equal(bySurvivor(), ok, 'the answered requests are exactly those the other worker had');

  await gw.waitFor((l) => l.msg === 'worker ready' && l.worker === 0 && l.pid !== victim, 20_000);
  t.not(gw.workerPids()[0], victim, 'worker 0 is a new process');
  await until(() => gw.lines.some((l) => l.msg === 'worker exited unexpectedly, replacing it'), 5000, 'the exit log line');
  let text = await gw.metrics();
  t.equal(sample(text, 'wakegate_worker_restarts_total'), 1, 'one restart counted');
  t.equal(sample(text, 'wakegate_workers'), 2, 'two live workers again');
  t.ok((sample(text, 'wakegate_requests_total{app="a",code="200"}') ?? 0) >= ok, 'the counters kept what the dead worker counted');

  const after = await Promise.all(Array.from({ length: 10 }, () => gw.get()));
  t.ok(after.every((r) => r.status === 200), 'new requests succeed');
  // The dead worker's hold on the instance went with it: the app idles out as usual.
  await gw.waitFor((l) => l.msg === 'instance of a stopped (idle)', 20_000);
  text = await gw.metrics();
  t.equal(sample(text, 'wakegate_app_state{app="a",state="stopped"}'), 1, 'stopped: nothing leaked a busy hold');
});

t.test('an instance crash with 2 workers: the requests in flight on it get 502 WG_ERR_INSTANCE_CRASHED', async (t) => {
  const gw = await runWorkers(t, { a: app() });
  await bothServe(t, gw);
  await quietNow(gw);
  const slow = await busyOnBoth(gw, '/slow?ms=10000');
  const replies = await Promise.all([...slow, gw.get('/crash-before')]);
  const code = (r: (typeof replies)[number]): string => (r === 'cut' ? 'cut' : `${r.status} ${/"code":"(\w+)"/.exec(r.body)?.[1] ?? r.body}`);
  t.same(
    replies.map(code),
    replies.map(() => '502 WG_ERR_INSTANCE_CRASHED'),
    `every request in flight on the instance, in both workers, got 502 named as the crash (${replies.length})`,
  );
  const crashedIn = (): unknown[] => [...new Set(gw.lines.filter((l) => l.msg === 'failed to serve request' && l.code === 'WG_ERR_INSTANCE_CRASHED').map((l) => l.worker))].sort();
  // The workers' log lines may still be on their way through the pipe.
  await until(() => crashedIn().length === 2, 10_000, 'both workers to log the crash').catch(() => undefined);
  t.same(crashedIn(), [0, 1], 'in both workers');
  t.equal((await gw.get()).status, 200, 'the next request starts a new instance');
});

t.test('a hung worker (SIGSTOP: alive, its event loop still) is found by its unanswered ping, killed and replaced', async (t) => {
  const gw = await runWorkers(t, { a: app({ idleTimeout: '1h' }) });
  await bothServe(t, gw);
  const [victim] = gw.workerPids();
  process.kill(victim!, 'SIGSTOP');
  // If the watchdog failed, the teardown's SIGTERM would wait on a stopped process: let it go on.
  t.teardown(() => void (alive(victim!) && process.kill(victim!, 'SIGCONT')));
  // Each on a connection of its own: a keep-alive connection the stopped worker holds is its own to lose.
  const fresh = async (): Promise<number> => {
    const agent = new Agent();
    try {
      const res = await request(`http://127.0.0.1:${gw.port}/`, { headers: { host: HOST }, dispatcher: agent });
      await res.body.text();
      return res.statusCode;
    } finally {
      await agent.close();
    }
  };
  const during = await Promise.all(Array.from({ length: 10 }, fresh));
  t.same(during, during.map(() => 200), 'meanwhile the other worker accepts and serves every new connection');
  const killed = await gw.waitFor((l) => l.msg === 'worker did not answer a ping, killing it as hung', 30_000);
  t.equal(killed.pid, victim, 'the stopped process is the one killed');
  t.equal(killed.worker, 0);
  await gw.waitFor((l) => l.msg === 'worker ready' && l.worker === 0 && l.pid !== victim, 20_000);
  t.not(gw.workerPids()[0], victim, 'worker 0 is a new process');
  t.notOk(alive(victim!), 'the hung process is gone');
  const text = await gw.metrics();
  t.equal(sample(text, 'wakegate_worker_restarts_total'), 1, 'counted as a restart');
  t.equal(sample(text, 'wakegate_workers'), 2);
  await bothServe(t, gw);
});
