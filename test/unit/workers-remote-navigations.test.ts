// A worker's waiting page (src/workers/remote-navigations.ts): the StartingApp view of a RemoteApp follows the
// primary's pushes, and the wake is asked of the primary, against a hand-written primary.
import t, { type Test } from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import type { AppSpec } from '../../src/config/types.js';
import { InstanceCrashedError } from '../../src/errors.js';
import { toWire, type AppMirror, type FromWorker, type StartMirror } from '../../src/workers/protocol.js';
import { RemoteApp } from '../../src/workers/remote-app.js';
import { RemoteNavigations } from '../../src/workers/remote-navigations.js';

function spec(): AppSpec {
  const config = validateConfig(
    { listen: { http: '127.0.0.1:8080' }, runtimeDir: '/tmp/wg-x', apps: { a: { hosts: ['a.test'], command: ['true'], dir: '/tmp', runtime: 'process' } } },
    '/tmp/x.yaml',
  );
  return config.apps.a!;
}

const s = spec();
const mirror = (state: AppMirror['state'], start: StartMirror = { backoffRemainingMs: 0 }, generation?: number): AppMirror => ({ spec: s, state, generation, start });
const link = { acquire: () => new Promise<number | undefined>(() => {}), report: () => {} };

function setUp(t: Test): { app: RemoteApp; nav: RemoteNavigations; sent: FromWorker[] } {
  const app = new RemoteApp(mirror('stopped'), 2, link, (name) => `/tmp/wg-none/${name}.sock`);
  const sent: FromWorker[] = [];
  const nav = new RemoteNavigations((name) => (name === 'a' ? app : undefined), (m) => sent.push(m));
  t.teardown(() => app.close('shutdown'));
  return { app, nav, sent };
}

t.test('the view reads the start as the primary pushed it, and hears each change of state once', async (t) => {
  const { app, nav } = setUp(t);
  const view = nav.app('a')!;
  t.equal(nav.app('nope'), undefined);
  const seen: string[] = [];
  const unsubscribe = view.onStateChange((state) => seen.push(state));
  t.equal(view.state, 'stopped');
  t.equal(view.coldStartSince, undefined);
  t.equal(view.backoffRemainingMs, 0);
  t.equal(view.record.lastColdStart, undefined);
  app.update(mirror('starting', { coldStartSince: 1234, backoffRemainingMs: 0 }, 1));
  t.equal(view.state, 'starting');
  t.equal(view.coldStartSince, 1234, "the primary's trigger time");
  app.update(mirror('starting', { coldStartSince: 1234, backoffRemainingMs: 0 }, 1));
  t.same(seen, ['starting'], 'a push that changes no state is no change');
  const crash = new InstanceCrashedError('a', 'code 1');
  app.update(mirror('stopped', { backoffRemainingMs: 60_000, lastColdStart: { at: 5678, result: 'failed', error: toWire(crash) } }));
  t.same(seen, ['starting', 'stopped']);
  const last = view.record.lastColdStart!;
  t.equal(last.at, 5678);
  t.equal(last.result, 'failed');
  t.type(last.error, InstanceCrashedError, 'the same error class again');
  t.equal(last.error!.message, crash.message, 'and the same message, which the failed page shows');
  const left = view.backoffRemainingMs;
  t.ok(left > 0 && left <= 60_000, `counted down from the push (${left} ms left)`);
  unsubscribe();
  app.update(mirror('starting', { backoffRemainingMs: 0 }, 2));
  t.same(seen, ['starting', 'stopped'], 'unsubscribed');
});

t.test('wakeHeld asks the primary and says what it answered, or that the app is starting meanwhile', async (t) => {
  const { app, nav, sent } = setUp(t);
  t.equal(await nav.wakeHeld('nope'), false, 'an app this worker does not serve');
  t.same(sent, [], 'is not asked about');
  const woken = nav.wakeHeld('a');
  t.match(sent, [{ t: 'wake', id: Number, app: 'a' }]);
  const first = sent[0] as Extract<FromWorker, { t: 'wake' }>;
  app.update(mirror('starting', { coldStartSince: 1, backoffRemainingMs: 0 }, 1));
  nav.woken(first.id, true);
  t.equal(await woken, true);
  app.update(mirror('stopped'));
  const raced = nav.wakeHeld('a');
  const second = sent[1] as Extract<FromWorker, { t: 'wake' }>;
  t.not(second.id, first.id);
  // Another worker's request started it first: the primary could not wake it, but the start is under way.
  app.update(mirror('starting', { coldStartSince: 2, backoffRemainingMs: 0 }, 2));
  nav.woken(second.id, false);
  t.equal(await raced, true, 'held for that start');
  app.update(mirror('stopped', { backoffRemainingMs: 5000 }));
  const refused = nav.wakeHeld('a');
  nav.woken((sent[2] as Extract<FromWorker, { t: 'wake' }>).id, false);
  t.equal(await refused, false, 'not woken and still stopped: sent as any request');
});

t.test('a closed app reads stopped with nothing to wait for, wakes nothing, and tells its listeners', async (t) => {
  const { app, nav, sent } = setUp(t);
  app.update(mirror('starting', { coldStartSince: 1, backoffRemainingMs: 3000 }, 1));
  const view = nav.app('a')!;
  const seen: string[] = [];
  view.onStateChange((state) => seen.push(state));
  app.close('removed');
  t.same(seen, ['starting'], 'listeners hear the close (with the state the mirror last had)');
  t.equal(view.state, 'stopped');
  t.equal(view.coldStartSince, undefined);
  t.equal(view.backoffRemainingMs, 0);
  t.equal(await nav.wakeHeld('a'), false);
  t.same(sent, [], 'the primary is not asked');
});
