// workers: 2 — a reload reaches every worker, and a shutdown lets requests in flight in the workers finish,
// then leaves no process behind: no worker, no primary, no instance.
import t from 'tap';
import { fixtureApp, until } from '../helpers/gateway.js';
import { app, bothServe, living, quietNow, runWorkers } from '../helpers/workers.js';

t.test('SIGHUP adds an app and removes one, in both workers', async (t) => {
  const b = fixtureApp(['b.localhost']);
  const gw = await runWorkers(t, { a: app(), b });
  await bothServe(t, gw, '/', 'b.localhost', 'b');
  // In flight on b when the reload removes it: it finishes, and b's instance stops only after it.
  await quietNow(gw, 'b');
  const from = gw.lines.length;
  const draining = gw.get('/slow?ms=1500', 'b.localhost');
  await gw.waitFor((l) => l.msg === 'worker busy' && l.app === 'b' && gw.lines.indexOf(l) >= from);
  gw.writeConfig({ workers: 2, admin: { listen: '127.0.0.1:0' }, log: { requests: true }, shutdownTimeout: '5s', apps: { a: app(), c: fixtureApp(['c.localhost']) } });
  gw.child.kill('SIGHUP');
  t.match(await gw.waitFor((l) => l.msg === 'config reloaded'), { added: ['c'], removed: ['b'] });
  await bothServe(t, gw, '/', 'c.localhost', 'c');
  // b is gone from every worker's routes: each answers 404 (no app is named on such a request line).
  let gone = 0;
  for (let round = 0; round < 40 && new Set(gw.lines.filter((l) => l.msg === 'request' && l.status === 404).map((l) => l.worker)).size < 2; round++) {
    const replies = await Promise.all(Array.from({ length: 20 }, () => gw.get('/', 'b.localhost')));
    gone += replies.filter((r) => r.status === 404).length;
    t.ok(replies.every((r) => r.status === 404), `round ${round}: the removed app is not routed`);
    await until(() => gw.lines.filter((l) => l.msg === 'request' && l.status === 404).length >= gone, 5000).catch(() => undefined);
  }
  t.same([...new Set(gw.lines.filter((l) => l.msg === 'request' && l.status === 404).map((l) => l.worker))].sort(), [0, 1], 'both workers refuse it');
  t.equal((await gw.get('/', 'a.localhost')).status, 200, 'the app kept serves on');
  t.equal((await draining).status, 200, 'the request in flight on the removed app finished');
  await gw.waitFor((l) => l.app === 'b' && l.msg === 'instance of b stopped (removed)');
});

t.test('SIGTERM with a slow request in flight: it completes, then workers, primary and instance are gone', async (t) => {
  const gw = await runWorkers(t, { a: app() });
  await bothServe(t, gw);
  const instance = (JSON.parse((await gw.get('/requests')).body) as { pid: number }).pid;
  const workers = gw.workerPids();
  t.equal(living([...workers, instance]).length, 3, 'two workers and the instance run');
  await quietNow(gw);
  const from = gw.lines.length;
  const slow = gw.get('/slow?ms=1500');
  await gw.waitFor((l) => l.msg === 'worker busy' && gw.lines.indexOf(l) >= from);
  gw.child.kill('SIGTERM');
  const reply = await slow;
  t.equal(reply.status, 200, 'the request in flight finished');
  t.same(await gw.exited, { code: 0, signal: null }, 'the primary exits 0');
  t.equal(gw.lines.filter((l) => l.msg === 'worker stopped').length, 2, 'both workers stopped when told');
  t.ok(
    gw.lines.findIndex((l) => l.msg === 'worker stopped') < gw.lines.findIndex((l) => l.msg === 'instance of a stopped (shutdown)'),
    'the workers first, then the instance',
  );
  await until(() => living([gw.pid, ...workers, instance]).length === 0, 10_000, 'every process gone');
  t.same(living([gw.pid, ...workers, instance]), [], 'no orphan: no worker, no instance');
});

t.test('a worker never outlives its primary', async (t) => {
  const gw = await runWorkers(t, { a: app() });
  const workers = gw.workerPids();
  process.kill(gw.pid, 'SIGKILL');
  await gw.exited;
  await until(() => living(workers).length === 0, 10_000, 'the workers to exit');
  t.same(living(workers), [], 'both workers exited with the IPC channel');
});
