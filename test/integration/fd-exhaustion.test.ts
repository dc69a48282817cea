import t from 'tap';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { fixtureApp, get, until } from '../helpers/gateway.js';
import { runGateway } from '../helpers/cli.js';
import { DEFAULTS } from '../../src/defaults.js';

const LIMIT = 256;
const IDLE = 400;

/** A client that connects and never sends a byte; `isClosed` says whether the gateway has closed it. */
function idleClient(port: number): Promise<{ socket: Socket; isClosed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => socket.destroy());
    socket.once('connect', () => resolve({ socket, isClosed: () => closed }));
    socket.once('error', reject);
  });
}

const sample = (text: string, series: string): number => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? NaN);

t.test(`under RLIMIT_NOFILE ${LIMIT}, idle connections cannot take the last fd: the excess is refused, logged and counted; the admin answers`, async (t) => {
  const gw = await runGateway(t, { admin: { listen: '127.0.0.1:0' }, apps: { a: fixtureApp(['a.localhost']) } }, undefined, { wrap: ['prlimit', `--nofile=${LIMIT}:${LIMIT}`, '--'] });
  const cap = gw.lines.find((l) => l.msg === 'wakegate listening')!.maxConnections as number;
  t.ok(cap > 0 && cap < LIMIT / 2, `the front holds ${cap} connections at most under ${LIMIT} fds`);
  const adminPort = ((await gw.waitFor((l) => l.msg === 'admin listening')).address as { port: number }).port;
  t.equal((await get(gw.port, 'a.localhost')).status, 200, 'the app serves before');

  const clients = await Promise.all(Array.from({ length: IDLE }, () => idleClient(gw.port)));
  const logged = await gw.waitFor((l) => l.reason === 'limit' && l.msg.startsWith('refused'));
  // The instance started for the first request took its own fds out of the cap.
  const now = (gw.lines.filter((l) => l.msg === 'front connection cap changed').at(-1)?.maxConnections as number | undefined) ?? cap;
  t.ok(now < cap, `the running instance lowered the cap to ${now}`);
  t.match(logged, { level: 40, maxConnections: now }, `logged: ${logged.msg}`);
  const health = await request(`http://127.0.0.1:${adminPort}/healthz`);
  t.equal(health.statusCode, 200, 'the admin API answers while the front is full');
  await health.body.text();
  // Summaries come once a second; each refused client has seen its connection closed.
  const summed = (): number => gw.lines.filter((l) => l.reason === 'limit').reduce((sum, l) => sum + (l.count as number), 0);
  const held = (): number => clients.filter((c) => !c.isClosed()).length;
  await until(() => summed() === IDLE - held(), 5000, 'the summaries to add up to the refused connections');
  t.ok(held() <= cap, `${held()} idle connections held, within the cap`);
  t.ok(summed() >= IDLE - cap, `${summed()} connections refused, in ${gw.lines.filter((l) => l.reason === 'limit').length} log lines`);
  const metrics = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
  t.equal(sample(metrics, 'wakegate_connections_refused_total{listener="front",reason="limit"}'), summed(), 'and counted in the metric');

  for (const c of clients) c.socket.destroy();
  const served = await get(gw.port, 'a.localhost');
  t.equal(served.status, 200, 'once the idle clients leave, the front serves again');
});

t.test('many idle apps under a tight RLIMIT_NOFILE leave the front its connections; a running instance takes its own fds', async (t) => {
  // 300 apps hold 300 sockets. Reserving eight fds per app, as wakegate once did, left this front one connection.
  const limit = 1024;
  const apps = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`app${i}`, fixtureApp([`app${i}.localhost`])]));
  const gw = await runGateway(t, { apps }, undefined, { wrap: ['prlimit', `--nofile=${limit}:${limit}`, '--'] });
  const cap = gw.lines.find((l) => l.msg === 'wakegate listening')!.maxConnections as number;
  t.equal(cap, Math.floor((limit - DEFAULTS.internal.fdReserve - 300) / 2), `the front holds ${cap} connections: the fds left after the reserve and one socket per app, two each`);

  const clients = await Promise.all(Array.from({ length: 100 }, () => idleClient(gw.port)));
  t.teardown(() => clients.forEach((c) => c.socket.destroy()));
  t.equal((await get(gw.port, 'app7.localhost')).status, 200, 'with 100 connections open, a new one is served and wakes its app');
  t.notOk(clients.some((c) => c.isClosed()), 'and none of the 100 was refused');
  const changed = await gw.waitFor((l) => l.msg === 'front connection cap changed');
  t.equal(changed.maxConnections, Math.floor((limit - DEFAULTS.internal.fdReserve - 300 - DEFAULTS.internal.fdReservePerInstance) / 2), 'the running instance takes its share of the cap');
  t.notOk(gw.lines.some((l) => l.reason === 'limit'), 'nothing refused');
});
