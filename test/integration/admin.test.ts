import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, request } from 'undici';
import type { BoundAddress } from '../../src/listen.js';
import type { Recorder } from '../../src/activator/recorder.js';
import { fixtureApp, get, startGateway } from '../helpers/gateway.js';
import { CLI, runGateway } from '../helpers/cli.js';

const exec = promisify(execFile);
const TOKEN = 'a-long-enough-admin-token';

function adminUrl(address: BoundAddress | undefined, path: string): string {
  if (address?.kind !== 'tcp') throw new Error('expected a TCP admin address');
  return `http://127.0.0.1:${address.port}${path}`;
}

async function admin(address: BoundAddress | undefined, path: string, init: { method?: 'GET' | 'POST'; token?: string; headers?: Record<string, string> } = {}) {
  const res = await request(adminUrl(address, path), {
    method: init.method ?? 'GET',
    headers: { ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }), ...init.headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: (): Record<string, unknown> => JSON.parse(text) as Record<string, unknown> };
}

t.test('the admin token is enforced on every path', async (t) => {
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost']) }, { admin: { listen: '127.0.0.1:0', token: TOKEN } });
  for (const path of ['/metrics', '/healthz', '/apps', '/apps/a']) {
    const none = await admin(gw.gateway.adminAddress, path);
    t.equal(none.status, 401, `${path} without a token`);
    t.equal(none.headers['www-authenticate'], 'Bearer realm="wakegate"');
    t.equal((await admin(gw.gateway.adminAddress, path, { token: `${TOKEN}x` })).status, 401, `${path} with a wrong token`);
    t.equal((await admin(gw.gateway.adminAddress, path, { token: TOKEN })).status, 200, `${path} with the token`);
  }
  t.equal((await admin(gw.gateway.adminAddress, '/apps/a/stop', { method: 'POST' })).status, 401, 'actions too');
});

/** A recorder that resolves when an app's in-flight count reaches a value: the activator's own event. */
function inflightEvents(): { recorder: Recorder; reached: (app: string, inflight: number) => Promise<void> } {
  const waiters: Array<{ app: string; inflight: number; done: () => void }> = [];
  const recorder: Recorder = {
    stateChanged: () => {},
    coldStart: () => {},
    instanceExited: () => {},
    load: (app, inflight) => {
      for (const w of waiters.filter((w) => w.app === app && w.inflight === inflight)) waiters.splice(waiters.indexOf(w), 1), w.done();
    },
  };
  return { recorder, reached: (app, inflight) => new Promise((done) => waiters.push({ app, inflight, done })) };
}

t.test('start, stop and drain an app from the admin API; app JSON; metrics', async (t) => {
  const events = inflightEvents();
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost'], { idleTimeout: '1h' }) }, { admin: { listen: '127.0.0.1:0' } }, { recorder: events.recorder });
  const started = await admin(gw.gateway.adminAddress, '/apps/a/start', { method: 'POST' });
  t.equal(started.status, 202);
  t.equal(started.json().state, 'starting');
  t.equal((await gw.get('a.localhost')).status, 200);
  t.equal(gw.runtime.starts, 1, 'the request used the instance the admin started');
  const app = (await admin(gw.gateway.adminAddress, '/apps/a')).json();
  t.match(app, { name: 'a', state: 'running', runtime: 'process', hosts: ['a.localhost'], requests: 1, inflight: 0, queued: 0, backoffMs: 0 });
  t.match(app.instance, { id: /^wakegate-a-\d+$/, pid: Number });
  t.ok((app.memoryBytes as number) > 1024 * 1024, 'memory of the running instance');
  t.match(app.lastColdStart, { result: 'ok', spawnMs: Number, firstByteMs: Number });
  t.ok((app.idleStopInMs as number) > 3_000_000, 'idle deadline');

  const metrics = (await admin(gw.gateway.adminAddress, '/metrics')).text;
  t.match(metrics, /^wakegate_cold_starts_total\{app="a",result="ok"\} 1$/m);
  t.match(metrics, /^wakegate_requests_total\{app="a",code="200"\} 1$/m);
  t.match(metrics, /^wakegate_app_state\{app="a",state="running"\} 1$/m);
  t.match(metrics, /^wakegate_running_instances 1$/m);
  t.match(metrics, /^wakegate_instance_memory_bytes\{app="a"\} \d+/m);
  t.match(metrics, /^wakegate_cold_start_seconds_count\{app="a",phase="first_byte"\} 1$/m);

  const inflight = events.reached('a', 1);
  const slow = gw.get('a.localhost', '/slow?ms=500');
  await inflight;
  const drained = await admin(gw.gateway.adminAddress, '/apps/a/drain', { method: 'POST' });
  t.equal((await slow).status, 200, 'drain let the in-flight request finish');
  t.equal(drained.json().state, 'stopped');
  t.match(gw.lines.find((l) => l.reason === 'drain'), { app: 'a', code: 0 });

  t.equal((await gw.get('a.localhost')).status, 200);
  const stopped = await admin(gw.gateway.adminAddress, '/apps/a/stop', { method: 'POST' });
  t.equal(stopped.json().state, 'stopped');
  t.match((await admin(gw.gateway.adminAddress, '/metrics')).text, /^wakegate_instance_exits_total\{app="a",reason="stop"\} 1$/m);
  t.equal((await admin(gw.gateway.adminAddress, '/apps/nope')).status, 404);
  t.equal((await admin(gw.gateway.adminAddress, '/apps/a/stop')).status, 405, 'actions need POST');
});

t.test('without a token, a page on another site can neither start an app (CSRF) nor read the API (DNS rebinding)', async (t) => {
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost'], { idleTimeout: '1h' }) }, { admin: { listen: '127.0.0.1:0' } });
  const port = gw.gateway.adminAddress?.kind === 'tcp' ? gw.gateway.adminAddress.port : 0;
  const attacks: Array<[string, 'GET' | 'POST', string, Record<string, string>]> = [
    ['the reported attack: a form on evil.example, its name rebound to 127.0.0.1', 'POST', '/apps/a/start', { host: 'evil.example', origin: 'http://evil.example' }],
    ['a form on evil.example posting to 127.0.0.1', 'POST', '/apps/a/start', { host: `127.0.0.1:${port}`, origin: 'http://evil.example' }],
    ['a page on another loopback port', 'POST', '/apps/a/start', { host: `127.0.0.1:${port}`, origin: 'http://127.0.0.1:3000' }],
    ['a sandboxed or file: page (Origin null)', 'POST', '/apps/a/start', { host: `localhost:${port}`, origin: 'null' }],
    ['a cross-site fetch without Origin', 'POST', '/apps/a/start', { host: `127.0.0.1:${port}`, 'sec-fetch-site': 'cross-site' }],
    ['a same-site fetch from another localhost port', 'POST', '/apps/a/stop', { host: `127.0.0.1:${port}`, 'sec-fetch-site': 'same-site' }],
    ['DNS rebinding: reading the apps', 'GET', '/apps', { host: `evil.example:${port}` }],
    ['DNS rebinding: reading the metrics', 'GET', '/metrics', { host: 'evil.example' }],
    ['a name that only starts like the loopback', 'GET', '/apps', { host: `localhost.evil.example:${port}` }],
    ['a name that only starts like a loopback address', 'GET', '/apps', { host: '127.0.0.1.evil.example' }],
    ['the wildcard address', 'GET', '/apps', { host: `0.0.0.0:${port}` }],
    ['another IPv6 address', 'GET', '/apps', { host: `[::2]:${port}` }],
    ['a Host with userinfo', 'GET', '/apps', { host: 'localhost@evil.example' }],
  ];
  for (const [name, method, path, headers] of attacks) {
    const reply = await admin(gw.gateway.adminAddress, path, { method, headers });
    t.equal(reply.status, 403, `${name}: 403`);
    t.match(reply.json(), { error: { code: 'WG_ERR_FORBIDDEN' } }, `${name}: typed`);
    t.notOk(reply.text.includes('"state"'), `${name}: no app data in the answer`);
  }
  t.equal(gw.gateway.apps.get('a')!.state, 'stopped', 'the app was not started');
  t.equal(gw.runtime.starts, 0, 'nothing was spawned');
  t.notOk(gw.lines.some((l) => l.msg === 'app state changed'), 'no state change at all');
  t.same(gw.lines.filter((l) => l.level >= 50), [], 'refusals are not errors in the log');

  for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `127.1.2.3:${port}`, `localhost:${port}`, 'LocalHost.', `admin.localhost:${port}`, `[::1]:${port}`, '[0:0:0:0:0:0:0:1]']) {
    t.equal((await admin(gw.gateway.adminAddress, '/healthz', { headers: { host } })).status, 200, `Host ${host}: a loopback name is served`);
  }
  const own = await admin(gw.gateway.adminAddress, '/apps/a/start', { method: 'POST', headers: { host: `localhost:${port}`, origin: `http://localhost:${port}`, 'sec-fetch-site': 'same-origin' } });
  t.equal(own.status, 202, "the admin's own page (same origin) may start the app");
  await gw.gateway.apps.get('a')!.stopInstance('stop');
  const curl = await admin(gw.gateway.adminAddress, '/apps/a/start', { method: 'POST' });
  t.equal(curl.status, 202, 'curl-like: loopback Host, no Origin');
  t.equal(gw.runtime.starts, 2);
});

t.test('with a token, the token is the defence: a request carrying it is served whatever Host and Origin say', async (t) => {
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost'], { idleTimeout: '1h' }) }, { admin: { listen: '127.0.0.1:0', token: TOKEN } });
  const headers = { host: 'evil.example', origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' };
  t.equal((await admin(gw.gateway.adminAddress, '/apps/a/start', { method: 'POST', headers })).status, 401, 'a browser cannot attach the token');
  t.equal(gw.runtime.starts, 0);
  t.equal((await admin(gw.gateway.adminAddress, '/apps/a/start', { method: 'POST', headers, token: TOKEN })).status, 202);
});

t.test('a Unix-socket admin without a token takes any Host, but still refuses cross-origin actions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-admin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost'], { idleTimeout: '1h' }) }, { admin: { listen: `unix:${join(dir, 'admin.sock')}` } });
  const client = new Client('http://admin', { socketPath: join(dir, 'admin.sock') });
  t.teardown(() => client.close());
  const ask = async (method: 'GET' | 'POST', path: string, headers: Record<string, string>): Promise<number> => {
    const res = await client.request({ method, path, headers });
    await res.body.text();
    return res.statusCode;
  };
  t.equal(await ask('GET', '/apps', { host: 'evil.example' }), 200, 'no browser reaches a Unix socket, so no name can be rebound onto it');
  t.equal(await ask('POST', '/apps/a/start', { host: 'evil.example', origin: 'http://evil.example' }), 403, 'a rebound page relayed to it: the socket has no origin of its own');
  t.equal(await ask('POST', '/apps/a/start', { host: 'localhost', origin: 'http://localhost' }), 403, 'any Origin at all');
  t.equal(await ask('POST', '/apps/a/start', { host: 'localhost', 'sec-fetch-site': 'same-origin' }), 403, 'any fetch mark but none');
  t.equal(gw.runtime.starts, 0);
  t.equal(await ask('POST', '/apps/a/start', { host: 'localhost' }), 202);
});

t.test('a malformed app name is a 400, not a gateway error', async (t) => {
  const gw = await startGateway(t, { a: fixtureApp(['a.localhost']) }, { admin: { listen: '127.0.0.1:0' } });
  for (const [method, path] of [['GET', '/apps/%ZZ'], ['POST', '/apps/%E0%A4%A/start'], ['GET', '/apps/%']] as const) {
    const reply = await admin(gw.gateway.adminAddress, path, { method });
    t.equal(reply.status, 400, `${method} ${path}`);
    t.match(reply.json(), { error: { code: 'WG_ERR_BAD_REQUEST', message: /malformed percent-encoding/ } });
  }
  t.equal((await admin(gw.gateway.adminAddress, '/apps/a%2Db')).status, 404, 'well-formed escapes are decoded and looked up');
  t.same(gw.lines.filter((l) => l.level >= 50), [], 'nothing logged at error level');
  t.equal(gw.runtime.starts, 0);
});

t.test('wake-ignore: monitors get an answer from the gateway while the app sleeps, and reach it once it runs', async (t) => {
  const gw = await startGateway(t, {
    a: fixtureApp(['a.localhost'], { wakeIgnore: { paths: ['/healthz', '/status/*'], userAgents: ['Kube-Probe'] } }),
    b: fixtureApp(['b.localhost'], { wakeIgnore: { paths: ['/ping'], response: { status: 200, body: 'asleep', retryAfter: '30s' } } }),
  });
  for (const [path, ua] of [['/healthz', 'curl'], ['/status/deep', 'curl'], ['/', 'kube-probe/1.29']] as const) {
    const reply = await gw.get('a.localhost', path, { 'user-agent': ua });
    t.equal(reply.status, 503, `${path} (${ua})`);
    t.equal(reply.headers['retry-after'], '10');
    t.match(reply.body, /WG_ERR_ASLEEP/);
  }
  t.equal(gw.runtime.starts, 0, 'nothing woke');
  const custom = await gw.get('b.localhost', '/ping');
  t.same([custom.status, custom.body, custom.headers['retry-after']], [200, 'asleep', '30'], 'the configured answer');
  t.equal(gw.runtime.starts, 0);
  t.equal((await gw.get('a.localhost', '/healthzz')).status, 200, 'a path not on the list wakes the app');
  const proxied = await gw.get('a.localhost', '/healthz', { 'user-agent': 'kube-probe/1.29' });
  t.equal(proxied.status, 200, 'the same monitor request reaches a running app');
  t.equal(JSON.parse(proxied.body).path, '/healthz');
});

t.test('wakegate status prints a table (and --json) from a running gateway', async (t) => {
  const gw = await runGateway(t, { admin: { listen: '127.0.0.1:0', token: TOKEN }, apps: { a: fixtureApp(['a.localhost']), b: fixtureApp(['b.localhost']) } });
  const adminLine = await gw.waitFor((l) => l.msg === 'admin listening');
  const address = `127.0.0.1:${(adminLine.address as { port: number }).port}`;
  const body = JSON.parse((await get(gw.port, 'a.localhost')).body) as { pid: number };
  const table = await exec(process.execPath, [CLI, 'status', '--admin', address, '--token', TOKEN]);
  const [header, ...rows] = table.stdout.trim().split('\n');
  t.match(header, /^APP\s+STATE\s+PID\s+MEMORY\s+REQUESTS\s+CONNS\s+COLD START\s+IDLE STOP IN$/);
  t.match(rows[0], new RegExp(`^a\\s+running\\s+${body.pid}\\s+[\\d.]+ MiB\\s+1\\s+0\\s+\\d+ ms\\s+\\d+s$`));
  t.match(rows[1], /^b\s+stopped\s+-\s+-\s+0\s+0\s+-\s+-$/);
  // The gateway listens on port 0; a config naming the real port is what an operator's file would say.
  const statusConfig = join(gw.dir, 'status.json');
  writeFileSync(statusConfig, JSON.stringify({ listen: { http: '127.0.0.1:0' }, admin: { listen: address }, apps: {} }));
  const json = await exec(process.execPath, [CLI, 'status', '-c', statusConfig, '--json'], { env: { ...process.env, WAKEGATE_ADMIN_TOKEN: TOKEN } });
  t.match(JSON.parse(json.stdout), [{ name: 'a', state: 'running' }, { name: 'b', state: 'stopped' }]);
  const denied = await exec(process.execPath, [CLI, 'status', '--admin', address]).catch((e: { code: number; stderr: string }) => e);
  t.equal((denied as { code: number }).code, 1);
  t.match((denied as { stderr: string }).stderr, /401: a valid bearer token is required/);
});

t.test('wakegate status works against an admin API without a token', async (t) => {
  const gw = await runGateway(t, { admin: { listen: '127.0.0.1:0' }, apps: { a: fixtureApp(['a.localhost']) } });
  const adminLine = await gw.waitFor((l) => l.msg === 'admin listening');
  const port = (adminLine.address as { port: number }).port;
  const { stdout } = await exec(process.execPath, [CLI, 'status', '--admin', `127.0.0.1:${port}`, '--json']);
  t.match(JSON.parse(stdout), [{ name: 'a', state: 'stopped' }]);
  // `:PORT` is what a config listening on every interface says; the client asks the loopback for it.
  const wildcard = await exec(process.execPath, [CLI, 'status', '--admin', `:${port}`, '--json']);
  t.match(JSON.parse(wildcard.stdout), [{ name: 'a', state: 'stopped' }], 'a wildcard address is asked on the loopback');
});

t.test('logs: one line per request only with log.requests', async (t) => {
  const quiet = await startGateway(t, { a: fixtureApp(['a.localhost']) });
  await quiet.get('a.localhost');
  t.notOk(quiet.lines.some((l) => l.msg === 'request'), 'off by default');
  const loud = await startGateway(t, { a: fixtureApp(['a.localhost']) }, { log: { requests: true } });
  await loud.get('a.localhost', '/x');
  t.match(loud.lines.find((l) => l.msg === 'request'), { app: 'a', method: 'GET', url: '/x', status: 200, ms: Number });
});
