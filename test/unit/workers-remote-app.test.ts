// The worker's mirror of an app (src/workers/remote-app.ts), against a hand-written primary link: what it
// asks the primary, what it reports, and when it takes a lease of its own.
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import type { AppSpec } from '../../src/config/types.js';
import { InstanceCrashedError, QueueFullError } from '../../src/errors.js';
import type { AppMirror } from '../../src/workers/protocol.js';
import { RemoteApp, type PrimaryLink } from '../../src/workers/remote-app.js';
import { DEFAULTS } from '../../src/defaults.js';

function spec(extra: Record<string, unknown> = {}): AppSpec {
  const config = validateConfig(
    { listen: { http: '127.0.0.1:8080' }, runtimeDir: '/tmp/wg-x', apps: { a: { hosts: ['a.test'], command: ['true'], dir: '/tmp', runtime: 'process', ...extra } } },
    '/tmp/x.yaml',
  );
  return config.apps.a!;
}

/** The primary, by hand: acquires wait until the test grants or refuses them; reports are kept in order. */
class Link implements PrimaryLink {
  readonly reports: string[] = [];
  readonly asks: Array<{ grant(generation: number): void; refuse(err: Error): void }> = [];
  private listeners: Array<() => void> = [];
  acquire(): Promise<number | undefined> {
    return new Promise((grant, refuse) => this.asks.push({ grant, refuse }));
  }
  report(event: string, _app: string, generation: number): void {
    this.reports.push(`${event} ${generation}`);
    for (const l of this.listeners.splice(0)) l();
  }
  /** Resolves at the next report (the quiet timer is unref'd, as a worker's idle timers are: this one keeps the test alive). */
  next(): Promise<void> {
    const alive = setTimeout(() => {}, 10_000);
    return new Promise((resolve) => this.listeners.push(() => (clearTimeout(alive), resolve())));
  }
}

const mirror = (s: AppSpec, state: AppMirror['state'], generation?: number): AppMirror => ({ spec: s, state, generation, start: { backoffRemainingMs: 0 } });
const app = (s: AppSpec, link: Link, workers = 2): RemoteApp => new RemoteApp(mirror(s, 'stopped'), workers, link, (name) => `/tmp/wg-none/${name}.sock`);

t.test('stopped: every concurrent request waits on one ask to the primary, then goes on the granted instance', async (t) => {
  const s = spec();
  const link = new Link();
  const a = app(s, link);
  t.equal(a.tryAcquire(), undefined, 'no lease without an instance');
  const leases = Array.from({ length: 5 }, () => a.acquire());
  await new Promise((r) => setImmediate(r));
  t.equal(link.asks.length, 1, 'one ask for five requests');
  a.update(mirror(s, 'starting', 7));
  link.asks[0]!.grant(7);
  const held = await Promise.all(leases);
  t.equal(held.length, 5);
  t.same(link.reports, ['busy 7'], 'busy once, for the generation');
  t.equal(a.active, 5);
  held.forEach((l) => l.release());
  await link.next();
  t.same(link.reports, ['busy 7', 'quiet 7'], 'quiet once all are done and the pause passed');
});

t.test('running: leases without asking, and steady traffic sends nothing', async (t) => {
  const s = spec();
  const link = new Link();
  const a = app(s, link);
  a.update(mirror(s, 'running', 3));
  for (let i = 0; i < 50; i++) {
    const lease = a.tryAcquire();
    t.ok(lease, `request ${i}: a lease at once`);
    lease!.responded();
    lease!.release();
  }
  t.same(link.reports, ['busy 3', 'responded 3'], 'busy and the first answer, nothing per request');
  t.equal(link.asks.length, 0, 'the primary was never asked');
  t.equal(a.record.requests, 50);
  await link.next();
  t.same(link.reports.at(-1), 'quiet 3');
});

t.test('the breaker share: ceil(concurrency / workers) slots, ceil(queueLimit / workers) waiting', async (t) => {
  const s = spec({ concurrency: 3, queueLimit: 2 });
  const link = new Link();
  const a = app(s, link, 2);
  a.update(mirror(s, 'running', 1));
  const first = a.tryAcquire();
  const second = a.tryAcquire();
  t.ok(first && second, 'two slots (ceil(3 / 2))');
  t.equal(a.tryAcquire(), undefined, 'the third waits');
  const waiting = a.acquire();
  await t.rejects(a.acquire(), QueueFullError, 'past ceil(2 / 2) waiting: refused at once');
  first!.release();
  const third = await waiting;
  t.ok(third, 'the waiter got the freed slot');
  second!.release();
  third.release();
});

t.test('park: requests ask the primary, and the answer says whether any is in flight', async (t) => {
  const s = spec();
  const link = new Link();
  const a = app(s, link);
  a.update(mirror(s, 'running', 4));
  const lease = a.tryAcquire()!;
  t.equal(a.park(), false, 'busy: one in flight');
  lease.release();
  t.equal(a.park(), true, 'quiet now');
  t.equal(a.tryAcquire(), undefined, 'parked: no lease of its own');
  const asked = a.acquire();
  await new Promise((r) => setImmediate(r));
  t.equal(link.asks.length, 1, 'it asks the primary');
  // The primary kept the instance and unparked; the grant names it.
  a.unpark();
  link.asks[0]!.grant(4);
  (await asked).release();
  t.ok(a.tryAcquire(), 'unparked: leases again at once');
});

t.test('a failure pushed by the primary is what the lease reports; unresponsive is told once, after 3', async (t) => {
  const s = spec();
  const link = new Link();
  const a = app(s, link);
  a.update(mirror(s, 'running', 9));
  const lease = a.tryAcquire()!;
  for (let i = 0; i < DEFAULTS.internal.unresponsiveAfter + 2; i++) lease.unanswered();
  t.equal(link.reports.filter((r) => r === 'unresponsive 9').length, 1, 'unresponsive once');
  const crash = new InstanceCrashedError('a', 'code 1');
  a.failed(9, crash);
  t.equal(lease.failure(), crash, 'the in-flight request fails as the primary says');
  t.equal(a.tryAcquire(), undefined, 'no new request goes to a failed instance');
  a.failed(8, new InstanceCrashedError('a', 'old'));
  t.equal(lease.failure(), crash, 'a failure of another generation changes nothing');
  lease.release();
});

t.test('stopping: no new lease on the old instance; requests wait for the primary', async (t) => {
  const s = spec();
  const link = new Link();
  const a = app(s, link);
  a.update(mirror(s, 'running', 2));
  a.update(mirror(s, 'stopping', 2));
  t.equal(a.tryAcquire(), undefined);
  const asked = a.acquire();
  await new Promise((r) => setImmediate(r));
  t.equal(link.asks.length, 1);
  a.update(mirror(s, 'stopped'));
  a.update(mirror(s, 'starting', 5));
  link.asks[0]!.grant(5);
  const lease = await asked;
  t.same(link.reports, ['busy 5'], 'on the new instance');
  lease.release();
  a.close('shutdown');
});

t.test('while the instance starts, the requests sent to it count against queueLimit, as in the primary', async (t) => {
  const s = spec({ queueLimit: 4 });
  const link = new Link();
  const a = app(s, link, 2);
  a.update(mirror(s, 'starting', 6));
  const sent = [a.tryAcquire(), a.tryAcquire()];
  t.ok(sent.every(Boolean), 'ceil(4 / 2) sent to the starting instance');
  t.equal(a.tryAcquire(), undefined, 'the next one is not sent at once');
  await t.rejects(a.acquire(), QueueFullError, 'and is refused: the share of queueLimit waits already');
  sent[0]!.responded();
  t.ok(a.tryAcquire(), 'an answered request no longer counts as waiting');
  a.update(mirror(s, 'running', 6));
  t.ok(a.tryAcquire() && a.tryAcquire(), 'once running, none of them counts');
});
