import t from 'tap';
import { request } from 'undici';
import { FIXTURE_APP, fixtureApp, startGateway } from '../helpers/gateway.js';

const code = (body: string): string | undefined => (JSON.parse(body) as { error?: { code: string } }).error?.code;

/** A request with the time it took; never rejects (a cut response comes back as `error`). */
async function timed(port: number, host: string, path: string): Promise<{ status: number; body: string; ms: number; error?: string; at: number }> {
  const started = Date.now();
  try {
    const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { host } });
    const body = await res.body.text();
    return { status: res.statusCode, body, ms: Date.now() - started, at: Date.now() };
  } catch (err) {
    return { status: 0, body: '', ms: Date.now() - started, error: (err as Error).message, at: Date.now() };
  }
}

t.test('responseTimeout: set per app or in defaults; unset stays absent (the front applies 60 s)', async (t) => {
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost'], { responseTimeout: '2s' }), b: fixtureApp(['b.localhost']) }, { defaults: { responseTimeout: '5s' } });
  t.equal(gw.gateway.apps.get('a')!.spec.responseTimeoutMs, 2000);
  t.equal(gw.gateway.apps.get('b')!.spec.responseTimeoutMs, 5000);
  const bare = await startGateway(t, { c: fixtureApp(['c.localhost']) });
  t.notOk('responseTimeoutMs' in bare.gateway.apps.get('c')!.spec);
});

t.test('an app that never answers: 504 at responseTimeout; other requests to it and to other apps are unaffected', async (t) => {
  const gw = await startGateway(t, {
    slow: fixtureApp(['slow.localhost'], { responseTimeout: '600ms', stopTimeout: '300ms' }),
    other: fixtureApp(['other.localhost'], { responseTimeout: '600ms' }),
  });
  t.equal((await timed(gw.port, 'slow.localhost', '/')).status, 200, 'warm');
  t.equal((await timed(gw.port, 'other.localhost', '/')).status, 200, 'warm');
  const hung = timed(gw.port, 'slow.localhost', '/hang');
  const [same, other] = await Promise.all([timed(gw.port, 'slow.localhost', '/'), timed(gw.port, 'other.localhost', '/')]);
  const answered = await hung;
  t.equal(same.status, 200, 'a concurrent request to the same app is served');
  t.equal(other.status, 200, 'and one to another app');
  t.ok(same.at < answered.at && other.at < answered.at, 'both before the hung one is answered');
  t.ok(same.ms < 500 && other.ms < 500, `quickly (${same.ms} ms, ${other.ms} ms), not after the timeout`);
  t.equal(answered.status, 504, 'the hung request gets 504');
  t.equal(code(answered.body), 'WG_ERR_RESPONSE_TIMEOUT');
  t.ok(answered.ms >= 550 && answered.ms < 3000, `at the timeout (${answered.ms} ms)`);
  t.equal(gw.gateway.apps.get('slow')!.state, 'running', 'the instance is not stopped for it');
  t.equal(gw.gateway.apps.get('slow')!.inflight, 0, 'and the request no longer counts as in flight');
  t.equal((await timed(gw.port, 'slow.localhost', '/slow?ms=100')).status, 200, 'a response within the timeout is served');
  t.equal(gw.runtime.starts, 2, 'one start per app, none for the timeout');
  const line = gw.lines.find((l) => l.code === 'WG_ERR_RESPONSE_TIMEOUT');
  t.match(line, { app: 'slow', status: 504, msg: 'failed to serve request' }, 'logged as a failure');
});

t.test('a response whose body stalls is cut after responseTimeout of silence', async (t) => {
  const gw = await startGateway(t, { stall: fixtureApp(['stall.localhost'], { responseTimeout: '500ms', stopTimeout: '300ms' }) });
  const res = await request(`http://127.0.0.1:${gw.port}/hang-body`, { headers: { host: 'stall.localhost' } });
  t.equal(res.statusCode, 200, 'the head arrives: the status cannot change any more');
  const started = Date.now();
  await t.rejects(res.body.text(), 'the body is cut rather than left hanging');
  const ms = Date.now() - started;
  t.ok(ms >= 400 && ms < 3000, `after the timeout (${ms} ms)`);
  t.match(
    gw.lines.find((l) => l.code === 'WG_ERR_RESPONSE_TIMEOUT'),
    { app: 'stall', status: 200, msg: 'failed to serve request', error: /sent no response data for 500 ms/ },
    'logged, with the status the client saw',
  );
  t.equal((await timed(gw.port, 'stall.localhost', '/')).status, 200, 'the app serves the next request');
});

t.test('a cold start longer than responseTimeout is bounded by startTimeout, not answered 504', async (t) => {
  // The shell sleeps, then execs the app: same pid (LISTEN_PID holds), inherited fd 3, a slow start.
  const command = ['/bin/sh', '-c', `sleep 1; exec '${process.execPath}' app.mjs`];
  const gw = await startGateway(t, {
    late: fixtureApp(['late.localhost'], { command, dir: FIXTURE_APP, responseTimeout: '400ms', startTimeout: '5s', stopTimeout: '300ms' }),
  });
  // Both wait for the same start; once it is over, the fast one is answered and the hung one gets its own
  // responseTimeout from then on.
  const [fast, hung] = await Promise.all([timed(gw.port, 'late.localhost', '/'), timed(gw.port, 'late.localhost', '/hang')]);
  t.equal(fast.status, 200, `the request that waited ${fast.ms} ms for the start is served`);
  t.ok(fast.ms >= 900, 'the start did take longer than responseTimeout');
  t.equal(hung.status, 504, 'the hung one times out');
  t.ok(hung.at - fast.at >= 300, `counting from the end of the start (${hung.at - fast.at} ms after it)`);
  t.equal(gw.runtime.starts, 1);
});

t.test('responseTimeout counts from the upstream connection: time spent waiting for a slot is not the app’s', async (t) => {
  const gw = await startGateway(t, { q: fixtureApp(['q.localhost'], { concurrency: 5, responseTimeout: '1s' }) });
  t.equal((await timed(gw.port, 'q.localhost', '/')).status, 200, 'warm');
  // Three rounds of five: the last round waits about 800 ms for its slots, then takes 500 ms itself.
  const replies = await Promise.all(Array.from({ length: 15 }, () => timed(gw.port, 'q.localhost', '/slow?ms=500')));
  t.same(replies.map((r) => r.status), Array(15).fill(200), 'all served, none answered 504');
  const slowest = Math.max(...replies.map((r) => r.ms));
  t.ok(slowest > 1000, `the last round did wait longer than responseTimeout in all (${slowest} ms)`);
  t.notOk(gw.lines.some((l) => l.reason === 'unresponsive'), 'and the instance was not taken for unresponsive');
  t.equal(gw.runtime.starts, 1);
});
