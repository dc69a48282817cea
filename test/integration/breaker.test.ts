import t from 'tap';
import { fixtureApp, startGateway, until, type TestGateway } from '../helpers/gateway.js';

const code = (body: string): string | undefined => (JSON.parse(body) as { error?: { code: string } }).error?.code;

/** A request with when it ended, relative to the others. */
async function tagged(gw: TestGateway, path: string, order: string[], tag: string): Promise<{ status: number; retryAfter?: string; body: string; ms: number }> {
  const started = Date.now();
  const reply = await gw.get('slow.localhost', path);
  order.push(tag);
  return { status: reply.status, retryAfter: reply.headers['retry-after'] as string | undefined, body: reply.body, ms: Date.now() - started };
}

t.test('concurrency 2, queueLimit 1: the third waits for a slot, the fourth gets 503 with Retry-After at once', async (t) => {
  const gw = await startGateway(t, { slow: fixtureApp(['slow.localhost'], { concurrency: 2, queueLimit: 1 }) });
  const app = gw.gateway.apps.get('slow')!;
  t.equal((await gw.get('slow.localhost')).status, 200, 'warm');
  const order: string[] = [];
  const first = [tagged(gw, '/slow?ms=1500', order, 'a'), tagged(gw, '/slow?ms=1500', order, 'b')];
  await until(() => app.inflight === 2, 3000, 'two in flight');
  const third = tagged(gw, '/slow?ms=10', order, 'c');
  await until(() => app.queued === 1, 3000, 'the third queued');
  t.equal(app.inflight, 2, 'the third is not in flight: it waits for a slot');
  const fourth = await tagged(gw, '/', order, 'd');
  t.equal(fourth.status, 503, 'the fourth is refused');
  t.equal(code(fourth.body), 'WG_ERR_QUEUE_FULL');
  t.ok(Number(fourth.retryAfter) >= 1, `with Retry-After (${fourth.retryAfter})`);
  t.ok(fourth.ms < 1000, `at once (${fourth.ms} ms), not after a slot freed`);
  const all = await Promise.all([...first, third]);
  t.same(all.map((r) => r.status), [200, 200, 200], 'the admitted three are served');
  t.equal(order.indexOf('c'), 3, 'the queued one after a slot freed');
  t.equal(app.queued, 0);
  t.equal(app.inflight, 0);
  t.equal(gw.runtime.starts, 1);
});

t.test('waiters get slots in arrival order', async (t) => {
  const gw = await startGateway(t, { slow: fixtureApp(['slow.localhost'], { concurrency: 1, queueLimit: 10 }) });
  const app = gw.gateway.apps.get('slow')!;
  t.equal((await gw.get('slow.localhost')).status, 200, 'warm');
  const order: string[] = [];
  const pending = [tagged(gw, '/slow?ms=800', order, 'holder')];
  await until(() => app.inflight === 1, 3000, 'the slot taken');
  for (const [i, tag] of ['w1', 'w2', 'w3', 'w4'].entries()) {
    pending.push(tagged(gw, '/slow?ms=5', order, tag));
    await until(() => app.queued === i + 1, 3000, `${tag} queued`);
  }
  t.same((await Promise.all(pending)).map((r) => r.status), [200, 200, 200, 200, 200]);
  t.same(order, ['holder', 'w1', 'w2', 'w3', 'w4'], 'first come, first served');
});

t.test('requests waiting for a slot look again when the instance stops, and are served by the next', async (t) => {
  const gw = await startGateway(t, { slow: fixtureApp(['slow.localhost'], { concurrency: 1, queueLimit: 10, stopTimeout: '2s' }) });
  const app = gw.gateway.apps.get('slow')!;
  const before = JSON.parse((await gw.get('slow.localhost')).body) as { pid: number };
  const order: string[] = [];
  const holder = tagged(gw, '/slow?ms=500', order, 'holder');
  await until(() => app.inflight === 1, 3000, 'the slot taken');
  const waiting = [tagged(gw, '/', order, 'w1'), tagged(gw, '/', order, 'w2')];
  await until(() => app.queued === 2, 3000, 'two waiting for the slot');
  const stopped = app.stopInstance('stop');
  t.equal((await holder).status, 200, 'the request in flight completes');
  await stopped;
  const served = await Promise.all(waiting);
  t.same(served.map((r) => r.status), [200, 200], 'the waiters are served');
  t.not((JSON.parse(served[0]!.body) as { pid: number }).pid, before.pid, 'by the next instance');
  t.equal(gw.runtime.starts, 2);
  t.equal(app.queued, 0);
});
