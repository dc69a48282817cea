import t from 'tap';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { fixtureApp, get, until } from '../helpers/gateway.js';
import { runGateway } from '../helpers/cli.js';

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
  t.match(logged, { level: 40, maxConnections: cap }, `logged: ${logged.msg}`);
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
