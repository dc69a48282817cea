import t from 'tap';
import { request } from 'undici';
import { fixtureApp, rawRequest, startGateway, until } from '../helpers/gateway.js';

t.test('a crash mid-request: 502 for the requests of that instance only; the next request starts it again', async (t) => {
  const gw = await startGateway(t, { crashy: fixtureApp(['crashy.localhost']) });
  const warm = JSON.parse((await gw.get('crashy.localhost')).body) as { pid: number };
  const bystander = gw.get('crashy.localhost', '/slow?ms=3000');
  await until(() => gw.gateway.apps.get('crashy')!.inflight === 1, 2000, 'bystander in flight');
  const crashing = await gw.get('crashy.localhost', '/crash-before');
  t.equal(crashing.status, 502, 'the crashing request gets 502');
  t.equal((JSON.parse(crashing.body) as { error: { code: string } }).error.code, 'WG_ERR_INSTANCE_CRASHED');
  t.equal((await bystander).status, 502, 'the other in-flight request of that instance gets 502');
  const after = await gw.get('crashy.localhost');
  t.equal(after.status, 200, 'the next request is served');
  t.not((JSON.parse(after.body) as { pid: number }).pid, warm.pid, 'by a new instance');
  const exit = gw.lines.find((l) => l.app === 'crashy' && l.reason === 'crash');
  t.equal(exit?.code, 1, 'the crash is logged with its exit code');
});

t.test('a crash after the response head was sent cuts that response', async (t) => {
  const gw = await startGateway(t, { cut: fixtureApp(['cut.localhost']) });
  await t.rejects(gw.get('cut.localhost', '/crash'), 'the client sees a truncated response, not a clean one');
  t.equal((await gw.get('cut.localhost')).status, 200);
});

t.test('crash loop: backoff doubles from 1 s, answered with 503 + Retry-After', async (t) => {
  const gw = await startGateway(t, { loop: fixtureApp(['loop.localhost'], { env: { MODE: 'exit' } }) });
  t.equal((await gw.get('loop.localhost')).status, 502, 'first crash: its request gets 502');
  t.equal((await gw.get('loop.localhost')).status, 502, 'a single crash restarts at once');
  const during = await gw.get('loop.localhost');
  t.equal(during.status, 503, 'second consecutive crash: backoff');
  t.equal(during.headers['retry-after'], '1');
  t.equal((JSON.parse(during.body) as { error: { code: string } }).error.code, 'WG_ERR_BACKOFF');
  t.equal(gw.runtime.starts, 2, 'no start during the backoff');
  await until(() => gw.gateway.apps.get('loop')!.state === 'stopped', 2000);
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await gw.get('loop.localhost')).status, 502, 'after the backoff it starts again');
  const next = await gw.get('loop.localhost');
  t.equal(next.status, 503);
  t.equal(next.headers['retry-after'], '2', 'the delay doubled');
  const backoffs = gw.lines.filter((l) => l.app === 'loop' && typeof l.backoffMs === 'number').map((l) => l.backoffMs);
  t.same(backoffs, [0, 1000, 2000]);
});

t.test('start timeout: an app that never accepts gets 503 + Retry-After and is stopped', async (t) => {
  const gw = await startGateway(t, { stuck: fixtureApp(['stuck.localhost'], { startTimeout: '400ms', stopTimeout: '200ms', env: { MODE: 'never-accept' } }) });
  const started = Date.now();
  const reply = await gw.get('stuck.localhost');
  t.equal(reply.status, 503);
  t.ok(reply.headers['retry-after']);
  t.equal((JSON.parse(reply.body) as { error: { code: string } }).error.code, 'WG_ERR_START_TIMEOUT');
  t.ok(Date.now() - started >= 350, 'answered at the timeout, not before');
  await until(() => gw.gateway.apps.get('stuck')!.state === 'stopped', 3000, 'stopped');
  t.ok(gw.lines.some((l) => l.app === 'stuck' && l.reason === 'start_timeout'));
});

t.test('start timeout after every client gave up: recorded as abandoned, the instance stopped, no backoff', async (t) => {
  const gw = await startGateway(t, { stuck: fixtureApp(['stuck.localhost'], { startTimeout: '600ms', stopTimeout: '200ms', env: { MODE: 'never-accept' } }) });
  const app = gw.gateway.apps.get('stuck')!;
  // An impatient client: gone long before startTimeout.
  await t.rejects(request(`http://127.0.0.1:${gw.port}/`, { headers: { host: 'stuck.localhost' }, signal: AbortSignal.timeout(100) }));
  await until(() => app.inflight === 0, 2000, 'the request gone');
  t.equal(app.state, 'starting', 'still starting while startTimeout runs');
  await until(() => app.state === 'stopped', 5000, 'stopped at startTimeout');
  const cold = gw.lines.filter((l) => l.app === 'stuck' && l.result !== undefined);
  t.same(cold.map((l) => l.result), ['abandoned'], 'one cold start, recorded as abandoned, not ok');
  t.match(cold[0], { level: 40, msg: /abandoned/ });
  t.equal(app.record.lastColdStart?.result, 'abandoned', 'and so for status');
  t.ok(gw.lines.some((l) => l.app === 'stuck' && l.reason === 'start_timeout'), 'stopped as start_timeout, as the README says');
  t.notOk(gw.lines.some((l) => l.msg.includes('?')), 'no log line prints "?"');
  t.equal(app.backoffRemainingMs, 0, 'no request saw a failure: no backoff');
});

t.test('queue overflow: past queueLimit, 503 at once', async (t) => {
  const gw = await startGateway(t, { tiny: fixtureApp(['tiny.localhost'], { queueLimit: 3, startTimeout: '1500ms', env: { MODE: 'never-accept' } }) });
  const waiting = [gw.get('tiny.localhost'), gw.get('tiny.localhost'), gw.get('tiny.localhost')];
  await until(() => gw.gateway.apps.get('tiny')!.queued === 3, 2000, 'three queued');
  const started = Date.now();
  const over = await gw.get('tiny.localhost');
  t.equal(over.status, 503);
  t.equal((JSON.parse(over.body) as { error: { code: string } }).error.code, 'WG_ERR_QUEUE_FULL');
  t.ok(Date.now() - started < 1000, 'at once, not after the start timeout');
  t.same((await Promise.all(waiting)).map((r) => r.status), [503, 503, 503], 'the queued ones time out');
});

t.test('unknown Host: 404 without waking any app; missing Host: 400', async (t) => {
  const gw = await startGateway(t, { one: fixtureApp(['one.localhost', '*.one.example']) });
  const unknown = await gw.get('nobody.localhost');
  t.equal(unknown.status, 404);
  t.equal((JSON.parse(unknown.body) as { error: { code: string } }).error.code, 'WG_ERR_NO_ROUTE');
  t.equal(gw.runtime.starts, 0, 'no app woken');
  t.equal((await gw.get('one.example')).status, 404, 'a wildcard does not match its bare suffix');
  t.equal((await gw.get('A.b.ONE.example:8080')).status, 200, 'wildcard, case and port normalised');
  const raw = (text: string): Promise<string> => rawRequest(gw.port, text);
  t.match(await raw('GET / HTTP/1.1\r\nconnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /, 'HTTP/1.1 without Host');
  t.match(await raw('GET / HTTP/1.0\r\nconnection: close\r\n\r\n'), /^HTTP\/1\.1 400 [^]*WG_ERR_BAD_REQUEST/, 'HTTP/1.0 without Host');
  t.match(await raw('GET http://one.localhost/ HTTP/1.1\r\nhost: one.localhost\r\nconnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /, 'absolute-form: not an open proxy');
  t.match(await raw('CONNECT one.localhost:443 HTTP/1.1\r\nhost: one.localhost:443\r\n\r\n'), /^HTTP\/1\.1 400 /, 'CONNECT refused');
  t.equal(gw.runtime.starts, 1, 'only the one good request woke the app');
});

t.test('a command that cannot be executed: 503 with the exec error named in the log', async (t) => {
  const gw = await startGateway(t, {
    missing: fixtureApp(['missing.localhost'], { command: ['./no-such-program'] }),
    denied: fixtureApp(['denied.localhost'], { command: ['./app.mjs'] }),
  });
  const reply = await gw.get('missing.localhost');
  t.equal(reply.status, 503);
  t.equal((JSON.parse(reply.body) as { error: { code: string } }).error.code, 'WG_ERR_START_FAILED');
  const line = gw.lines.find((l) => l.app === 'missing' && l.result === 'failed');
  t.match(line?.err, { type: 'StartFailedError', message: /ENOENT/ });
  t.equal(gw.gateway.apps.get('missing')!.state, 'stopped');
  t.equal((await gw.get('denied.localhost')).status, 503, 'a file without the execute bit');
  t.match(gw.lines.find((l) => l.app === 'denied' && l.result === 'failed')?.err, { message: /EACCES/ });
});
