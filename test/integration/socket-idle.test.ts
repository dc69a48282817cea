// The socket-mode idle rule against real sockets and real apps: the gateway is out of the data path, so
// it judges use from the kernel's counters (connections, TCP bytes, queued bytes, instance CPU time).
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { request } from 'undici';
import type { Socket } from 'node:net';
import type { AppActivator } from '../../src/activator/app-activator.js';
import type { AppSnapshot } from '../../src/admin/snapshot.js';
import { FIXTURE_APP, fixtureApp, startGateway, type TestGateway, until } from '../helpers/gateway.js';
import { adminPort, scrape } from '../helpers/prometheus.js';
import { boundOf, echoApp, EventLog, open, roundTrip, socketDir, type RuntimeName } from '../helpers/socket-mode.js';
import { missingTool } from '../helpers/tools.js';

const ociSkip = missingTool('runc', 'runc') || (process.getuid?.() !== 0 ? 'containers need root' : false);
const IDLE_MS = 1000;
const SAMPLE_MS = 200;
/** Timer and scheduling slack on a loaded 2-core machine, on top of the rule's own bound. */
const SLACK_MS = 1000;

/** Another process that sends one HTTP request on a Unix socket, says so once answered, and keeps the connection. */
const FOREIGN_CLIENT = `const s = require('node:net').connect(process.argv[1], () => s.write('GET / HTTP/1.1\\r\\nhost: web.localhost\\r\\n\\r\\n'));
s.once('data', () => console.log('answered')); setInterval(() => {}, 1 << 30);`;

/** Waits, sample by sample, until `check` holds after one; fails after `samples` samples. */
async function sampled(gw: TestGateway, check: () => boolean, what: string, samples = 50): Promise<void> {
  for (let i = 0; i < samples; i++) {
    await gw.gateway.sampler.nextSample();
    if (check()) return;
  }
  throw new Error(`no sample showed ${what}`);
}

/** When the app's state last became `state`, as its state-change hook saw it. */
function stateTimes(app: AppActivator): Map<string, number> {
  const times = new Map<string, number>();
  app.onStateChange((state) => times.set(state, Date.now()));
  return times;
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

for (const runtime of ['process', 'oci'] as const satisfies readonly RuntimeName[]) {
  t.test(`socket-mode idle on the ${runtime} runtime`, { skip: runtime === 'oci' ? ociSkip : false }, async (t) => {
    const start = (t: Test, apps: Record<string, unknown>, top: Record<string, unknown> = {}, events = new EventLog()) =>
      startGateway(t, apps, { sampleInterval: `${SAMPLE_MS}ms`, ...top }, { realRuntimes: runtime === 'oci', recorder: events }).then((gw) => ({ gw, events }));

    t.test('an open but silent TCP connection does not keep the app up past idleTimeout + sampleInterval', async (t) => {
      const { gw, events } = await start(t, { quiet: echoApp(runtime, { listen: ['tcp:127.0.0.1:0'], idleTimeout: `${IDLE_MS}ms` }) });
      const app = gw.gateway.apps.get('quiet')!;
      const times = stateTimes(app);
      const socket = await open(boundOf(gw, 'quiet', 'tcp:127.0.0.1:0'));
      t.teardown(() => socket.destroy());
      const gone = closed(socket);
      t.equal(await roundTrip(socket, 'hello\n'), 'hello\n');
      const lastByte = Date.now();
      await sampled(gw, () => app.connections === 1, 'the connection');
      await gw.waitFor((l) => l.app === 'quiet' && l.msg === 'instance of quiet stopped (idle)', IDLE_MS + SAMPLE_MS + 10_000);
      const stoppedAfter = times.get('stopping')! - lastByte;
      t.ok(stoppedAfter >= IDLE_MS, `not before idleTimeout (${stoppedAfter} ms after the last byte)`);
      t.ok(stoppedAfter <= IDLE_MS + SAMPLE_MS + SLACK_MS, `within idleTimeout + sampleInterval (+ slack): ${stoppedAfter} ms`);
      t.equal(events.exits.find((e) => e.app === 'quiet')?.reason, 'idle');
      await gone;
      t.pass('the silent connection ended with its instance');
      t.equal(app.connections, 0, 'a stopped app has no connections');
    });

    t.test('a connection that keeps moving bytes for 3 × idleTimeout is never cut', async (t) => {
      const { gw, events } = await start(t, { stream: echoApp(runtime, { listen: ['tcp:127.0.0.1:0'], idleTimeout: `${IDLE_MS}ms` }) });
      const app = gw.gateway.apps.get('stream')!;
      const socket = await open(boundOf(gw, 'stream', 'tcp:127.0.0.1:0'));
      t.teardown(() => socket.destroy());
      t.equal(await roundTrip(socket, '0'), '0');
      await until(() => app.state === 'running', 10_000, 'running');
      const pid = app.instance!.pid;
      const bytes = Math.ceil((3 * IDLE_MS) / 200);
      const cut = closed(socket).then(() => 'cut');
      let echoed = '';
      for (let i = 1; i <= bytes; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const got = await Promise.race([roundTrip(socket, String(i % 10)), cut]);
        if (got === 'cut' || app.state !== 'running') {
          t.fail(`the stream was cut at byte ${i} (app ${app.state})`);
          break;
        }
        echoed += got;
      }
      t.equal(echoed.length, bytes, 'every byte echoed');
      t.equal(app.instance?.pid, pid, 'the same instance throughout');
      t.same(events.exits, [], 'no instance ended');
      // Once the stream stops, the rule lets the app go.
      await until(() => app.state === 'stopped', IDLE_MS + SAMPLE_MS + 10_000, 'idle stop after the stream');
      t.equal(events.exits[0]?.reason, 'idle');
    });

    t.test('a Unix listener with a silent connection goes idle; CPU time is read from the instance', async (t) => {
      const path = join(socketDir(t), 'quiet.sock');
      const { gw, events } = await start(t, { uquiet: echoApp(runtime, { listen: [`unix:${path}`], idleTimeout: `${IDLE_MS}ms` }) });
      const app = gw.gateway.apps.get('uquiet')!;
      const socket = await open({ kind: 'unix', path });
      t.teardown(() => socket.destroy());
      t.equal(await roundTrip(socket, 'hi\n'), 'hi\n');
      await sampled(gw, () => app.connections === 1, 'the unix connection');
      const cpuNs = (await app.instance!.stats()).cpuNs;
      t.ok(cpuNs !== null && cpuNs > 0, `the instance's CPU time is readable: ${cpuNs} ns`);
      await gw.waitFor((l) => l.app === 'uquiet' && l.msg === 'instance of uquiet stopped (idle)', IDLE_MS + SAMPLE_MS + 10_000);
      t.equal(events.exits[0]?.reason, 'idle', 'no byte counts on Unix sockets: a quiet instance with a connection is idle');
    });

    t.test('connections show in the admin JSON, the status table data and the metrics; cold starts have phase accept', async (t) => {
      const { gw } = await start(t, { conns: echoApp(runtime, { listen: ['tcp:127.0.0.1:0'], idleTimeout: '60s' }) }, { admin: { listen: '127.0.0.1:0' } });
      const app = gw.gateway.apps.get('conns')!;
      const bound = boundOf(gw, 'conns', 'tcp:127.0.0.1:0');
      const sockets = await Promise.all([open(bound), open(bound)]);
      t.teardown(() => sockets.forEach((s) => s.destroy()));
      await Promise.all(sockets.map((s, i) => roundTrip(s, `c${i}\n`)));
      await sampled(gw, () => app.connections === 2, 'two connections');
      const json = async (): Promise<AppSnapshot> => (await (await request(`http://127.0.0.1:${adminPort(gw)}/apps/conns`)).body.json()) as AppSnapshot;
      const snap = await json();
      t.equal(snap.connections, 2, '/apps/conns');
      t.same(snap.sockets, [{ name: 'conns', address: `tcp:127.0.0.1:${bound.kind === 'tcp' ? bound.port : 0}` }], 'the bound address, not port 0');
      t.type(snap.lastColdStart?.acceptMs, 'number');
      const metrics = (await scrape(gw)).text;
      t.match(metrics, /^wakegate_app_connections\{app="conns"\} 2$/m);
      t.match(metrics, /^wakegate_cold_start_seconds_count\{app="conns",phase="accept"\} 1$/m);
      sockets[0]!.destroy();
      await sampled(gw, () => app.connections === 1, 'one connection left');
      t.match((await scrape(gw)).text, /^wakegate_app_connections\{app="conns"\} 1$/m);
    });

    t.test("the gateway's own HTTP pool connections are not counted; another proxy's are", async (t) => {
      const { gw } = await start(t, { web: runtime === 'oci' ? { ...fixtureApp(['web.localhost']), command: ['node', 'app.mjs'], runtime } : fixtureApp(['web.localhost']) });
      const app = gw.gateway.apps.get('web')!;
      t.equal((await gw.get('web.localhost')).status, 200);
      // A request in flight, and the pool's idle keep-alive connections to the app socket after it.
      const slow = gw.get('web.localhost', '/slow?ms=1500');
      await sampled(gw, () => app.state === 'running' && gw.gateway.sampler.stats.ownRefreshes > 0, 'a sample that had to recount the app socket');
      t.equal(app.connections, 0, "during an HTTP request: 0 foreign connections (the pool's were seen, listed as the gateway's, and left out)");
      const refreshes = gw.gateway.sampler.stats.ownRefreshes;
      await gw.gateway.sampler.nextSample();
      t.equal(app.connections, 0, 'still 0 at the next sample');
      t.equal(gw.gateway.sampler.stats.ownRefreshes, refreshes, "while the pool keeps its connections, the gateway's inodes are not listed again");
      t.equal((await slow).status, 200);
      // "Bring your own L7": a proxy (another process) connected to apps/web.sock directly is counted.
      const proxy = spawn(process.execPath, ['-e', FOREIGN_CLIENT, gw.gateway.apps.socketPath('web')!], { stdio: ['ignore', 'pipe', 'inherit'] });
      t.teardown(() => void proxy.kill('SIGKILL'));
      await new Promise((r) => proxy.stdout.once('data', r));
      await sampled(gw, () => app.connections === 1, "the other proxy's connection");
      t.pass("another proxy's connection to the app socket counts");
    });

    t.test('an app that closes its inherited socket after confirming is replaced as unresponsive', async (t) => {
      const command = [runtime === 'oci' ? 'node' : process.execPath, 'accept-once.mjs'];
      const { gw, events } = await start(t, { once: { command, dir: FIXTURE_APP, runtime, listen: ['tcp:127.0.0.1:0'], startTimeout: '1s', idleTimeout: '60s' } });
      const app = gw.gateway.apps.get('once')!;
      const bound = boundOf(gw, 'once', 'tcp:127.0.0.1:0');
      const first = await open(bound);
      t.teardown(() => first.destroy());
      t.equal(await roundTrip(first, 'one\n'), 'one\n');
      await until(() => app.state === 'running', 10_000, 'running');
      const pid = app.instance!.pid;
      // Accepted by nobody: the instance closed its copy of the listener.
      const second = await open(bound);
      t.teardown(() => second.destroy());
      const reply = roundTrip(second, 'two\n');
      await gw.waitFor((l) => l.app === 'once' && l.msg === 'instance of once stopped (unresponsive)', 15_000);
      t.equal(events.exits[0]?.reason, 'unresponsive');
      t.equal(await reply, 'two\n', 'the waiting connection wakes a new instance, which accepts it');
      t.not(app.instance?.pid, pid, 'a new instance');
    });
  });
}
