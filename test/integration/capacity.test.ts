// Capacity and eviction (capacity: maxRunning, minAvailable) with real processes and sockets: the issue's
// workload of 20 apps under maxRunning 5, LRU order, no eviction from a request in flight, and the memory
// check with the host's memory replaced by a reader the test sets (the one boundary faked here).
import t, { type Test } from 'tap';
import { request } from 'undici';
import { validateConfig } from '../../src/config/schema.js';
import type { AppState, ColdStartEvent, ExitEvent, Recorder } from '../../src/activator/recorder.js';
import type { MemorySample } from '../../src/capacity/memory.js';
import { fixtureApp, startGateway, until, type Reply, type TestGateway } from '../helpers/gateway.js';
import { adminPort, scrape } from '../helpers/prometheus.js';
import { Rng } from '../helpers/seeded-random.js';
import { boundOf, echo, echoApp, open, roundTrip } from '../helpers/socket-mode.js';

const MiB = 1024 * 1024;

/** Every state change, and the most instances that existed at once (starting, running or stopping) after any. */
class Census implements Recorder {
  readonly states = new Map<string, AppState>();
  readonly exits: Array<ExitEvent & { app: string }> = [];
  starts = new Map<string, number>();
  peak = 0;
  stateChanged(app: string, _from: AppState, to: AppState): void {
    this.states.set(app, to);
    if (to === 'starting') this.starts.set(app, (this.starts.get(app) ?? 0) + 1);
    this.peak = Math.max(this.peak, [...this.states.values()].filter((s) => s !== 'stopped').length);
  }
  coldStart(_app: string, _e: ColdStartEvent): void {}
  instanceExited(app: string, e: ExitEvent): void {
    this.exits.push({ ...e, app });
  }
  load(): void {}
  evicted(app?: string): number {
    return this.exits.filter((e) => e.reason === 'evicted' && (app === undefined || e.app === app)).length;
  }
}

function apps(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) out[`a${i}`] = fixtureApp([`a${i}.localhost`], { idleTimeout: '1h', ...extra });
  return out;
}

function capacityError(t: Test, reply: Reply): void {
  t.equal(reply.status, 503);
  t.match(reply.body, /"code":"WG_ERR_CAPACITY"/);
  t.ok(Number(reply.headers['retry-after']) >= 1, 'Retry-After');
}

async function evictions(gw: TestGateway, app: string, reason: string): Promise<number> {
  const { text } = await scrape(gw);
  const m = new RegExp(`^wakegate_evictions_total\\{app="${app}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

t.test('20 apps, maxRunning 5, a seeded random workload: never more than 5 instances, only counted 503s, every request served', async (t) => {
  const census = new Census();
  const gw = await startGateway(t, apps(20), { capacity: { maxRunning: 5 }, admin: { listen: '127.0.0.1:0' } }, { recorder: census });
  const rng = new Rng(15);
  let refused = 0;
  let served = 0;
  /** One client: `rounds` requests to random apps, some slow; a 503 is retried until the app answers. */
  const client = async (rounds: number): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      const host = `a${rng.int(20)}.localhost`;
      const path = rng.chance(0.3) ? `/slow?ms=${rng.range(50, 400)}` : '/';
      for (;;) {
        const reply = await gw.get(host, path);
        if (reply.status === 200) break;
        capacityError(t, reply);
        refused++;
        await new Promise((r) => setTimeout(r, 100));
      }
      served++;
    }
  };
  // Seven clients at once, more than maxRunning: at times every instance has a request in flight.
  await Promise.all(Array.from({ length: 7 }, () => client(12)));
  t.equal(served, 84, 'every request answered 200 in the end');
  t.ok(census.peak <= 5, `never more than 5 instances (peak ${census.peak})`);
  t.equal(census.peak, 5, 'the limit was reached');
  const evicted = census.evicted();
  t.ok(evicted > 0, `instances were evicted (${evicted})`);
  const restarted = [...census.starts].filter(([app, n]) => n > 1 && census.evicted(app) > 0);
  t.ok(restarted.length > 0, 'evicted apps were served again after a cold start');
  t.notOk(census.exits.some((e) => e.reason !== 'evicted'), 'no instance ended any other way');
  let counted = 0;
  for (let i = 0; i < 20; i++) counted += await evictions(gw, `a${i}`, 'max_running');
  t.equal(counted, evicted, 'each eviction counted in wakegate_evictions_total');
  t.comment(`capacity workload: ${served} requests, ${evicted} evictions, ${refused} 503 WG_ERR_CAPACITY (retried), peak ${census.peak} instances`);
});

t.test('the least recently used instance is evicted first, with a log line of what it freed', async (t) => {
  const census = new Census();
  const gw = await startGateway(t, apps(3), { capacity: { maxRunning: 2 }, admin: { listen: '127.0.0.1:0' } }, { recorder: census });
  for (const app of ['a0', 'a1', 'a0']) t.equal((await gw.get(`${app}.localhost`)).status, 200);
  t.equal((await gw.get('a2.localhost')).status, 200, 'a2 starts once a1 is gone');
  t.equal(census.evicted('a1'), 1, 'a1, used less recently than a0, was evicted');
  t.equal(census.evicted('a0'), 0);
  t.equal(gw.gateway.apps.get('a0')!.state, 'running');
  t.ok(census.peak <= 2, `never more than 2 (peak ${census.peak})`);
  const line = await gw.waitFor((l) => l.app === 'a1' && l.reason === 'max_running' && 'freedBytes' in l);
  t.ok(typeof line.freedBytes === 'number' && line.freedBytes > 0, `the memory it freed: ${String(line.freedBytes)}`);
  t.equal(await evictions(gw, 'a1', 'max_running'), 1);
  t.equal(gw.gateway.apps.get('a1')!.record.lastExitEvent?.reason, 'evicted');
  t.equal(gw.gateway.apps.get('a1')!.backoffRemainingMs, 0, 'an eviction is no failure: no backoff');
});

t.test('an instance with a request in flight is never evicted: the start gets 503 until it is free', async (t) => {
  const census = new Census();
  const gw = await startGateway(t, apps(2), { capacity: { maxRunning: 1 } }, { recorder: census });
  const slow = gw.get('a0.localhost', '/slow?ms=1500');
  await until(() => gw.gateway.apps.get('a0')!.inflight === 1, 10_000, 'a0 has its request in flight');
  capacityError(t, await gw.get('a1.localhost'));
  t.equal((await slow).status, 200, 'the request in flight finished on its instance');
  t.equal(census.evicted('a0'), 0);
  t.equal((await gw.get('a1.localhost')).status, 200, 'once a0 is quiet it is evicted for a1');
  t.equal(census.evicted('a0'), 1);
  t.ok(census.peak <= 1);
});

t.test('minAvailable: a start and the periodic check evict while memory is short, and a start with nothing to evict gets 503', async (t) => {
  const census = new Census();
  let memory: MemorySample = { availableBytes: 1024 * MiB };
  const gw = await startGateway(t, apps(3), { capacity: { minAvailable: '100Mi' }, admin: { listen: '127.0.0.1:0' } }, { recorder: census, memory: () => memory });
  for (const app of ['a0', 'a1']) t.equal((await gw.get(`${app}.localhost`)).status, 200);
  memory = { availableBytes: 50 * MiB };
  await until(() => census.evicted('a0') === 1, 10_000, 'the check evicts a0, the least recently used');
  await until(() => census.evicted('a1') === 1, 10_000, 'memory still short: the next check evicts a1');
  capacityError(t, await gw.get('a2.localhost'));
  t.equal(await evictions(gw, 'a0', 'memory'), 1);
  memory = { availableBytes: 50 * MiB * 4, pressureAvg10: 90 };
  capacityError(t, await gw.get('a2.localhost'));
  memory = { availableBytes: 1024 * MiB, pressureAvg10: 0 };
  t.equal((await gw.get('a2.localhost')).status, 200, 'memory available again: a2 starts');
});

t.test('a socket-mode connection and an admin start make room the same way', async (t) => {
  const census = new Census();
  const gw = await startGateway(
    t,
    { a0: fixtureApp(['a0.localhost'], { idleTimeout: '1h' }), kv: echoApp('process', { listen: ['tcp:127.0.0.1:0'], idleTimeout: '1h' }), a2: fixtureApp(['a2.localhost'], { idleTimeout: '1h' }) },
    { capacity: { maxRunning: 1 }, admin: { listen: '127.0.0.1:0' } },
    { recorder: census },
  );
  t.equal((await gw.get('a0.localhost')).status, 200);
  t.equal(await echo(boundOf(gw, 'kv', 'tcp:127.0.0.1:0'), 'ping\n'), 'ping\n', 'the connection waited for a0 to be evicted, then woke kv');
  t.equal(census.evicted('a0'), 1);
  await until(() => gw.gateway.apps.get('kv')!.state === 'running', 10_000, 'kv running');
  const res = await request(`http://127.0.0.1:${adminPort(gw)}/apps/a2/start`, { method: 'POST' });
  await res.body.text();
  t.ok(res.statusCode < 300, `admin start answered ${res.statusCode}`);
  t.equal(census.evicted('kv'), 1, 'kv, quiet, was evicted for the admin start');
  await until(() => gw.gateway.apps.get('a2')!.state !== 'stopped', 10_000, 'a2 started');
  t.ok(census.peak <= 1, `never more than 1 (peak ${census.peak})`);
});

t.test('an open socket-mode connection keeps its instance from eviction, as an upgraded one does', async (t) => {
  const census = new Census();
  const gw = await startGateway(
    t,
    { kv: echoApp('process', { listen: ['tcp:127.0.0.1:0'], idleTimeout: '1h' }), a0: fixtureApp(['a0.localhost'], { idleTimeout: '1h' }) },
    { capacity: { maxRunning: 1 }, sampleInterval: '100ms' },
    { recorder: census },
  );
  const conn = await open(boundOf(gw, 'kv', 'tcp:127.0.0.1:0'));
  t.teardown(() => conn.destroy());
  t.equal(await roundTrip(conn, 'ping\n'), 'ping\n', 'kv woke and answers on the connection');
  await until(() => gw.gateway.apps.get('kv')!.connections >= 1, 10_000, 'a sample saw the open connection');
  capacityError(t, await gw.get('a0.localhost'));
  t.equal(census.evicted('kv'), 0, 'not taken from its open connection');
  t.equal(await roundTrip(conn, 'still\n'), 'still\n', 'the connection still works');
  conn.destroy();
  await until(() => gw.gateway.apps.get('kv')!.connections === 0, 10_000, 'a sample saw it closed');
  t.equal((await gw.get('a0.localhost')).status, 200, 'now kv is quiet and is evicted for a0');
  t.equal(census.evicted('kv'), 1);
});

t.test('a reload applies capacity: a lower maxRunning is reached at the next start, none at all lifts it', async (t) => {
  const census = new Census();
  const set = apps(4);
  const gw = await startGateway(t, set, { capacity: { maxRunning: 3 } }, { recorder: census });
  const reload = (capacity?: Record<string, unknown>) =>
    gw.gateway.reload(validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir: gw.config.runtimeDir, shutdownTimeout: '2s', apps: set, ...(capacity && { capacity }) }, gw.config.file));
  for (const app of ['a0', 'a1', 'a2']) t.equal((await gw.get(`${app}.localhost`)).status, 200);
  t.equal(census.evicted(), 0, 'three fit under maxRunning 3');
  await reload({ maxRunning: 1 });
  t.equal(census.evicted(), 0, 'a reload evicts nothing by itself');
  t.equal((await gw.get('a3.localhost')).status, 200, 'the next start makes room under the new limit');
  t.equal(census.evicted(), 3, 'all three, the new limit being 1');
  const live = gw.gateway.apps.list().filter((a) => a.state !== 'stopped').map((a) => a.name);
  t.same(live, ['a3']);
  await reload(undefined);
  for (const app of ['a0', 'a1', 'a2']) t.equal((await gw.get(`${app}.localhost`)).status, 200, `${app} starts with no capacity set`);
  t.equal(census.evicted(), 3, 'and nothing more is evicted');
  t.equal(gw.gateway.apps.list().filter((a) => a.state !== 'stopped').length, 4);
});
