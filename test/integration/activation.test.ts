import t from 'tap';
import { Agent, request } from 'undici';
import { alive, fixtureApp, startGateway, type LogLine } from '../helpers/gateway.js';

t.test('a cold start is served, and the log tells its duration', async (t) => {
  const gw = await startGateway(t, { hello: fixtureApp(['hello.localhost']) });
  t.equal(gw.gateway.apps.get('hello')!.state, 'stopped');
  const reply = await gw.get('hello.localhost', '/first');
  t.equal(reply.status, 200);
  const body = JSON.parse(reply.body) as { path: string; env: Record<string, string>; pid: number };
  t.equal(body.path, '/first');
  t.equal(body.env.LISTEN_FDS, '1');
  t.equal(body.env.LISTEN_FDNAMES, 'hello');
  t.equal(body.env.LISTEN_PID, String(body.pid));
  t.equal(gw.runtime.starts, 1);
  t.equal(gw.gateway.apps.get('hello')!.state, 'running');
  const line = gw.lines.find((l) => l.result === 'ok' && l.app === 'hello');
  t.ok(line, 'one log line per cold start');
  t.type(line?.firstByteMs, 'number');
  t.match(line?.msg, /cold start of hello took \d+ ms/);
});

t.test('a request sent before the instance listens waits for it, and is answered by that instance', async (t) => {
  const gw = await startGateway(t, { late: fixtureApp(['late.localhost'], { env: { ACCEPT_DELAY_MS: '400' } }) });
  t.equal(gw.gateway.apps.get('late')!.state, 'stopped', 'no instance when the request is sent');
  let answered = false;
  const reply = gw.get('late.localhost', '/waited').then((r) => ((answered = true), r));
  const output = (prefix: string) => (l: LogLine): boolean => l.app === 'late' && l.stream === 'stdout' && l.msg.startsWith(prefix);
  const delaying = await gw.waitFor(output('delaying listen'));
  t.notOk(answered, 'the instance runs but does not listen yet: no answer, no error');
  // The instance writes this line before it can accept anything, and the output pipe is read as it comes,
  // so the line is in the log before the response can have reached the gateway.
  const listening = await gw.waitFor(output('listening on fd 3'));
  t.notOk(answered, 'still no answer when the instance starts listening');
  const { status, body } = await reply;
  t.equal(status, 200);
  const served = JSON.parse(body) as { path: string; pid: number };
  t.equal(served.path, '/waited');
  t.equal(delaying.msg, `delaying listen by 400 ms pid=${served.pid}`);
  t.equal(listening.msg, `listening on fd 3 pid=${served.pid}`, 'answered by the instance the request started');
  t.equal(gw.runtime.starts, 1, 'one start, no retry');
  t.match(gw.lines.find((l) => l.app === 'late' && l.result === 'ok'), { firstByteMs: Number });
});

t.test('500 concurrent first requests: exactly one spawn, 500 × 200', async (t) => {
  const gw = await startGateway(t, { herd: fixtureApp(['herd.localhost']) });
  const agent = new Agent({ connections: 500 });
  t.teardown(() => agent.close());
  const replies = await Promise.all(
    Array.from({ length: 500 }, async (_, i) => {
      const res = await request(`http://127.0.0.1:${gw.port}/r${i}`, { headers: { host: 'herd.localhost' }, dispatcher: agent });
      return { status: res.statusCode, pid: ((await res.body.json()) as { pid: number }).pid };
    }),
  );
  t.equal(gw.runtime.starts, 1, 'one spawn');
  t.equal(replies.filter((r) => r.status === 200).length, 500, '500 × 200');
  t.equal(new Set(replies.map((r) => r.pid)).size, 1, 'all served by one instance');
});

t.test('an idle stop leaves no process, and the next request starts the app again', async (t) => {
  const gw = await startGateway(t, { nap: fixtureApp(['nap.localhost'], { idleTimeout: '300ms' }) });
  const first = JSON.parse((await gw.get('nap.localhost')).body) as { pid: number };
  t.ok(alive(first.pid), 'instance runs');
  await gw.waitFor((l) => l.app === 'nap' && l.msg === 'app state changed' && l.to === 'stopped');
  t.notOk(alive(first.pid), 'no process left in /proc');
  t.ok(gw.lines.some((l) => l.reason === 'idle' && l.app === 'nap'), 'stop logged with reason idle');
  const second = await gw.get('nap.localhost');
  t.equal(second.status, 200);
  t.not((JSON.parse(second.body) as { pid: number }).pid, first.pid, 'a new instance');
  t.equal(gw.runtime.starts, 2);
});

t.test('a request arriving while the app stops waits, then starts it again', async (t) => {
  const gw = await startGateway(t, { slowstop: fixtureApp(['slowstop.localhost'], { idleTimeout: '200ms', stopTimeout: '600ms', env: { MODE: 'ignore-term' } }) });
  await gw.get('slowstop.localhost');
  await gw.waitFor((l) => l.app === 'slowstop' && l.msg === 'app state changed' && l.to === 'stopping');
  const reply = await gw.get('slowstop.localhost');
  t.equal(reply.status, 200);
  t.equal(gw.runtime.starts, 2);
});

t.test('the request is activity: a long request keeps the app from going idle', async (t) => {
  const gw = await startGateway(t, { busy: fixtureApp(['busy.localhost'], { idleTimeout: '200ms' }) });
  const reply = await gw.get('busy.localhost', '/slow?ms=700');
  t.equal(reply.status, 200);
  t.equal(gw.runtime.starts, 1);
  t.ok(!gw.lines.some((l) => l.reason === 'idle'), 'not stopped during the request');
});

t.test('process runtime: clean env, app dir as cwd, output in the log tagged with the app', async (t) => {
  const gw = await startGateway(t, { envy: fixtureApp(['envy.localhost'], { env: { GREETING: 'hi', PORT: 3000 } }) });
  const body = JSON.parse((await gw.get('envy.localhost')).body) as { env: Record<string, string>; cwd: string; pid: number };
  t.same(Object.keys(body.env).sort(), ['GREETING', 'LISTEN_FDNAMES', 'LISTEN_FDS', 'LISTEN_PID', 'PATH', 'PORT']);
  t.equal(body.env.PORT, '3000');
  t.equal(body.cwd, gw.config.apps.envy!.dir);
  const line = await gw.waitFor((l) => l.app === 'envy' && l.stream === 'stdout');
  t.equal(line.msg, `listening on fd 3 pid=${body.pid}`);
  t.match(line.instance, /^wakegate-envy-\d+$/);
});

t.test('process runtime: the app runs as the configured user and group, with no supplementary groups', { skip: process.getuid?.() !== 0 ? 'needs root to change user' : false }, async (t) => {
  const gw = await startGateway(t, { nobody: fixtureApp(['nobody.localhost'], { user: 65534, group: 65534 }) });
  const body = JSON.parse((await gw.get('nobody.localhost')).body) as { uid: number; gid: number; groups: number[] };
  t.equal(body.uid, 65534);
  t.equal(body.gid, 65534);
  t.same(body.groups, [65534]);
});
