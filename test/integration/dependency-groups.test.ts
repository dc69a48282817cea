// Dependency groups (dependsOn), with real processes and sockets: a web app (HTTP) that asks a key-value
// server (socket mode, TCP on fd 3) on its first request. Waking, holding, stop order, a crashing
// dependency, a shared one, every way of waking, and a reload that changes the relation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { request } from 'undici';
import type { AppActivator } from '../../src/activator/app-activator.js';
import type { AppSnapshot } from '../../src/admin/snapshot.js';
import { statusTable } from '../../src/admin/status-table.js';
import { validateConfig } from '../../src/config/schema.js';
import { FIXTURE_APP, startGateway, until, type TestGateway } from '../helpers/gateway.js';
import { adminPort, scrape } from '../helpers/prometheus.js';
import { boundOf, echo, echoApp, EventLog, open, roundTrip } from '../helpers/socket-mode.js';

const KV_DATA = { greeting: 'hello from kv' };

interface Group {
  readonly gw: TestGateway;
  readonly events: EventLog;
  readonly addrFile: string;
  app(name: string): AppActivator;
}

/** The key-value server: socket mode only, on a port the kernel picks. */
function kvApp(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { listen: ['tcp:127.0.0.1:0'], command: [process.execPath, 'kv-server.mjs'], dir: FIXTURE_APP, runtime: 'process', env: { KV_DATA: JSON.stringify(KV_DATA) }, ...extra };
}

/** A web app that asks kv on its first request; `addrFile` says where kv listens. */
function webApp(host: string, addrFile: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { hosts: [host], command: [process.execPath, 'kv-web.mjs'], dir: FIXTURE_APP, runtime: 'process', env: { KV_ADDR_FILE: addrFile }, dependsOn: ['kv'], ...extra };
}

/** A gateway on `apps(addrFile)`, with kv's bound port written to addrFile before any request. */
async function group(t: Test, apps: (addrFile: string) => Record<string, unknown>): Promise<Group> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-groups-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const addrFile = join(dir, 'kv.addr');
  const events = new EventLog();
  const gw = await startGateway(t, apps(addrFile), { admin: { listen: '127.0.0.1:0' } }, { recorder: events });
  const bound = boundOf(gw, 'kv', 'tcp:127.0.0.1:0');
  if (bound.kind !== 'tcp') throw new Error('kv is bound to TCP');
  writeFileSync(addrFile, `${bound.host}:${bound.port}\n`);
  return { gw, events, addrFile, app: (name) => gw.gateway.apps.get(name)! };
}

async function admin(gw: TestGateway, path: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; json: unknown }> {
  const res = await request(`http://127.0.0.1:${adminPort(gw)}${path}`, { method });
  return { status: res.statusCode, json: await res.body.json() };
}

function stateIndex(events: EventLog, app: string, to: string): number {
  return events.states.findIndex((s) => s.app === app && s.to === to);
}

t.test('one request wakes both, in the same tick, and the answer holds the key-value server’s data', async (t) => {
  const { gw, events, app } = await group(t, (file) => ({ web: webApp('web.localhost', file), kv: kvApp() }));
  const reply = await gw.get('web.localhost');
  t.equal(reply.status, 200, reply.body);
  t.equal((JSON.parse(reply.body) as { kv: string }).kv, KV_DATA.greeting, "kv's data, read by web on its first request");
  t.equal(events.starts('kv'), 1);
  t.equal(events.starts('web'), 1);
  t.equal(gw.runtime.starts, 2, 'one instance of each');
  // No ordering and no readiness wait: kv is woken just before web's own start, and web does not wait for it.
  t.equal(stateIndex(events, 'web', 'starting'), stateIndex(events, 'kv', 'starting') + 1, 'kv starting, then web starting, nothing in between');
  const kvUp = stateIndex(events, 'kv', 'running');
  t.ok(kvUp === -1 || kvUp > stateIndex(events, 'web', 'starting'), 'web started before kv was up');
  await until(() => app('kv').state === 'running', 10_000, 'kv running');

  const kv = (await admin(gw, '/apps/kv')).json as AppSnapshot;
  const web = (await admin(gw, '/apps/web')).json as AppSnapshot;
  t.same([kv.dependsOn, kv.heldBy, kv.idleStopAt], [[], ['web'], null], 'kv is held by web: no idle countdown');
  t.same([web.dependsOn, web.heldBy], [['kv'], []]);
  const table = statusTable((await admin(gw, '/apps')).json as AppSnapshot[]);
  t.match(table, /^APP\s+STATE.*DEPENDS ON$/m);
  t.match(table, /^kv\s+running \(held by: web\)\s/m);
  t.match(table, /^web\s+running\s.*\skv$/m);
  const { text } = await scrape(gw);
  t.match(text, /^wakegate_app_dependency\{app="web",dependency="kv"\} 1$/m);
  t.match(text, /^wakegate_app_held\{app="kv",dependent="web"\} 1$/m);
  t.notMatch(text, /^wakegate_app_held\{app="web"/m);
});

t.test('stop order: the dependency stops only after its dependent, then after its own idleTimeout', async (t) => {
  // kv's idleTimeout is the shorter: without the hold it would stop first.
  const { gw, events, app } = await group(t, (file) => ({ web: webApp('web.localhost', file, { idleTimeout: '1s' }), kv: kvApp({ idleTimeout: '200ms' }) }));
  t.equal((await gw.get('web.localhost')).status, 200);
  await until(() => app('kv').state === 'running', 10_000, 'kv running');
  t.equal(app('kv').idleDeadline, undefined, 'no countdown for kv while web runs');
  await until(() => events.exits.some((e) => e.app === 'kv'), 20_000, 'kv stopped');
  t.same(
    events.exits.map((e) => [e.app, e.reason]),
    [
      ['web', 'idle'],
      ['kv', 'idle'],
    ],
  );
  t.ok(stateIndex(events, 'web', 'stopped') < stateIndex(events, 'kv', 'stopping'), 'kv began to stop after web had stopped');
});

t.test('at shutdown, dependents stop before their dependencies', async (t) => {
  const { gw, events, app } = await group(t, (file) => ({ web: webApp('web.localhost', file), kv: kvApp() }));
  t.equal((await gw.get('web.localhost')).status, 200);
  await until(() => app('kv').state === 'running', 10_000, 'kv running');
  await gw.gateway.shutdown();
  t.same(
    events.exits.map((e) => [e.app, e.reason]),
    [
      ['web', 'shutdown'],
      ['kv', 'shutdown'],
    ],
  );
});

t.test('a dependency that fails to start fails its dependents’ waiting requests with 503 naming it', async (t) => {
  const { gw, events, app } = await group(t, (file) => ({ web: webApp('web.localhost', file), kv: kvApp({ env: { MODE: 'crash' } }) }));
  const reply = await gw.get('web.localhost');
  t.equal(reply.status, 503, reply.body);
  const error = (JSON.parse(reply.body) as { error: { code: string; message: string } }).error;
  t.equal(error.code, 'WG_ERR_DEPENDENCY');
  t.match(error.message, /^app web cannot start: its dependency kv failed to start: its instance exited \((crash, )?code 1\)$/);
  t.ok(Number(reply.headers['retry-after']) >= 1, 'Retry-After');
  await until(() => app('web').state === 'stopped', 10_000, 'web stopped');
  t.equal(app('web').backoffRemainingMs, 0, 'web itself is not counted as crashing');
  t.ok(
    events.exits.filter((e) => e.app === 'web').every((e) => e.reason === 'dependency'),
    'web was stopped for its dependency',
  );
  t.match(gw.lines.find((l) => l.msg === 'failed to start web: its dependency kv failed'), { app: 'web', dependency: 'kv' });

  // From its second crash on kv backs off; meanwhile web is refused at once, and not started.
  for (let i = 0; i < 5 && app('kv').backoffRemainingMs === 0; i++) t.equal((await gw.get('web.localhost')).status, 503);
  await until(() => app('kv').backoffRemainingMs > 300, 10_000, 'kv in backoff');
  const starts = events.starts('web');
  const refused = await gw.get('web.localhost');
  t.equal(refused.status, 503);
  t.match(JSON.parse(refused.body), { error: { code: 'WG_ERR_DEPENDENCY', message: /its dependency kv is crash-looping/ } });
  t.ok(Number(refused.headers['retry-after']) >= 1, "Retry-After from kv's backoff");
  t.equal(events.starts('web'), starts, 'web is not started while kv may not start');
});

t.test('a dependency shared by two apps stays up while either runs', async (t) => {
  const { gw, events, app } = await group(t, (file) => ({ one: webApp('one.localhost', file), two: webApp('two.localhost', file), kv: kvApp({ idleTimeout: '200ms' }) }));
  t.equal((await gw.get('one.localhost')).status, 200);
  t.equal((await gw.get('two.localhost')).status, 200);
  t.equal(events.starts('kv'), 1, 'one kv for both');
  t.same(app('kv').heldBy, ['one', 'two']);
  await until(() => app('kv').state === 'running', 10_000, 'kv running');
  await app('one').stopInstance('stop');
  t.equal(app('kv').state, 'running');
  t.same(app('kv').heldBy, ['two'], 'still held by two');
  t.equal(app('kv').idleDeadline, undefined, 'no countdown while two runs');
  await app('two').stopInstance('stop');
  t.same(app('kv').heldBy, []);
  t.ok(app('kv').idleDeadline !== undefined, 'its own idle countdown runs once the last dependent stopped');
  await until(() => events.exits.some((e) => e.app === 'kv'), 10_000, 'kv stopped');
  t.same(
    events.exits.map((e) => [e.app, e.reason]),
    [
      ['one', 'stop'],
      ['two', 'stop'],
      ['kv', 'idle'],
    ],
  );
});

t.test('every way of waking an app wakes its dependencies: a socket-mode connection, the admin start', async (t) => {
  const { gw, app } = await group(t, (file) => ({ relay: echoApp('process', { listen: ['tcp:127.0.0.1:0'], dependsOn: ['kv'] }), web: webApp('web.localhost', file), kv: kvApp() }));
  t.equal(await echo(boundOf(gw, 'relay', 'tcp:127.0.0.1:0'), 'ping'), 'ping');
  t.not(app('kv').state, 'stopped', 'a connection to relay woke kv');
  t.same(app('kv').heldBy, ['relay']);
  await app('relay').stopInstance('stop');
  await app('kv').stopInstance('stop');
  t.same([app('kv').state, app('kv').heldBy], ['stopped', []]);

  const started = await admin(gw, '/apps/web/start', 'POST');
  t.equal(started.status, 202);
  t.not(app('kv').state, 'stopped', 'the admin start of web woke kv');
  t.same(app('kv').heldBy, ['web']);
});

t.test('a reload that changes the relation applies at once', async (t) => {
  const { gw, events, app, addrFile } = await group(t, (file) => ({ web: webApp('web.localhost', file, { dependsOn: undefined }), kv: kvApp({ idleTimeout: '200ms' }) }));
  const reload = (web: Record<string, unknown>) =>
    gw.gateway.reload(validateConfig({ listen: { http: '127.0.0.1:0' }, admin: { listen: '127.0.0.1:0' }, runtimeDir: gw.config.runtimeDir, shutdownTimeout: '2s', apps: { web, kv: kvApp({ idleTimeout: '200ms' }) } }, gw.config.file));
  // Without the relation, web's connection wakes kv all the same (its socket listens), but nothing holds kv up.
  t.equal((await gw.get('web.localhost')).status, 200);
  await until(() => events.exits.some((e) => e.app === 'kv'), 10_000, 'kv idle-stopped while web runs');
  t.equal(app('web').state, 'running');

  const added = await reload(webApp('web.localhost', addrFile));
  t.same(added?.changed, ['web']);
  t.same(app('kv').heldBy, ['web'], 'the running web holds kv from the reload on');
  t.same(((await admin(gw, '/apps/web')).json as AppSnapshot).dependsOn, ['kv']);
  const client = await open(boundOf(gw, 'kv', 'tcp:127.0.0.1:0'));
  t.equal((await roundTrip(client, 'GET greeting\n')).trim(), KV_DATA.greeting, 'a client of its own wakes kv');
  client.destroy();
  await until(() => app('kv').state === 'running', 10_000, 'kv running');
  t.equal(app('kv').idleDeadline, undefined, 'held: no countdown');

  await reload(webApp('web.localhost', addrFile, { dependsOn: undefined }));
  t.same(app('kv').heldBy, [], 'let go at the reload that drops the relation');
  await until(() => events.exits.filter((e) => e.app === 'kv').length === 2, 10_000, 'kv idle-stopped again');
  t.equal(app('web').state, 'running');
});

t.test('dependencies of dependencies are woken too, and an HTTP app can be a dependency', async (t) => {
  const { gw, events, app } = await group(t, (file) => ({
    web: webApp('web.localhost', file, { dependsOn: ['mid', 'api'] }),
    mid: echoApp('process', { listen: ['tcp:127.0.0.1:0'], dependsOn: ['kv'] }),
    api: { hosts: ['api.localhost'], command: [process.execPath, 'app.mjs'], dir: FIXTURE_APP, runtime: 'process' },
    kv: kvApp(),
  }));
  const reply = await gw.get('web.localhost');
  t.equal(reply.status, 200, reply.body);
  t.equal((JSON.parse(reply.body) as { kv: string }).kv, KV_DATA.greeting, 'kv was woken through mid');
  for (const name of ['web', 'mid', 'api', 'kv']) t.equal(events.starts(name), 1, `${name} started once`);
  t.same([app('mid').heldBy, app('api').heldBy, app('kv').heldBy], [['web'], ['web'], ['mid']]);
  // Woken without a request, the HTTP dependency has started once its app socket's queue is empty.
  await until(() => app('api').state === 'running', 10_000, 'api running');
  t.equal((await gw.get('api.localhost', '/requests')).status, 200);
});
