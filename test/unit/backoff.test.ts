import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AppActivator } from '../../src/activator/app-activator.js';
import { Backoff } from '../../src/activator/backoff.js';
import type { Recorder } from '../../src/activator/recorder.js';
import { validateConfig } from '../../src/config/schema.js';
import { ProcessRuntime } from '../../src/runtime/process.js';
import { AppSocket } from '../../src/upstream/app-socket.js';
import { createUpstream, type Upstream } from '../../src/upstream/pool.js';
import { captureLogger, fixtureApp } from '../helpers/gateway.js';

t.test('one crash restarts at once; then 1 s doubling to 60 s', async (t) => {
  const b = new Backoff();
  const delays = Array.from({ length: 9 }, () => b.recordFailure(0, 100));
  t.same(delays, [0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  t.equal(b.remaining(59_000), 1000);
  t.equal(b.remaining(60_000), 0);
});

t.test('30 s of healthy running clears the count', async (t) => {
  const b = new Backoff();
  b.recordFailure(0, 0);
  b.recordFailure(0, 0);
  t.equal(b.recordFailure(0, 29_999), 2000, 'not yet healthy long enough');
  t.equal(b.recordFailure(0, 30_000), 0, 'a crash after a healthy run counts as the first');
  b.recordFailure(0, 0);
  b.recordSuccess(30_000);
  t.equal(b.consecutiveFailures, 0, 'a clean stop after a healthy run clears it too');
});

t.test('default timeouts: a stop for a failure after a long run does not clear the count', async (t) => {
  // As the activator records an unresponsive instance that had answered for 40 s: a failure when it is
  // replaced, then its stop once it exited. Forty seconds is past the default 30 s reset.
  const b = new Backoff();
  let now = 1_000_000;
  t.equal(b.recordFailure(now, 0), 0, 'first replacement: restart at once');
  b.recordStopped('unresponsive', 40_000);
  now += 40_000;
  t.equal(b.recordFailure(now, 0), 1000, 'second replacement: backed off, the 40 s before the first were not healthy');
  b.recordStopped('start_timeout', 40_000);
  t.equal(b.recordFailure(now, 0), 2000, 'start timeouts count the same way');
  b.recordStopped('idle', 40_000);
  t.equal(b.consecutiveFailures, 0, 'an idle stop after 40 s of running is healthy and clears it');
  b.recordFailure(now, 0);
  b.recordStopped('drain', 29_999);
  t.equal(b.consecutiveFailures, 1, 'but not before 30 s');
  t.equal(b.remaining(now), 0);
});

t.test('activator, default timeouts: an instance replaced as unresponsive never counts as healthy', async (t) => {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'wg-backoff-'));
  mkdirSync(join(runtimeDir, 'apps'), { mode: 0o700 });
  const appsDir = join(runtimeDir, 'apps');
  const socket = AppSocket.create({ path: appsDir, reach: (name) => join(appsDir, name) }, 'flaky');
  const spec = validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir, apps: { flaky: fixtureApp(['flaky.localhost']) } }, join(runtimeDir, 'x.yaml')).apps.flaky!;
  const upstreams: Upstream[] = [];
  // Time is the activator's own clock, moved by hand: 40 s of running take no real time.
  let now = 1_000_000;
  const { log } = captureLogger();
  const exits: string[] = [];
  const recorder: Recorder = { stateChanged() {}, coldStart() {}, load() {}, instanceExited: (_app, e) => void exits.push(e.reason) };
  const app = new AppActivator(spec, {
    runtimeFor: () => new ProcessRuntime(),
    sockets: () => [{ fd: socket.fd, name: 'flaky' }],
    createUpstream: (s) => {
      const u = createUpstream(socket.connectPath, { connections: s.concurrency });
      upstreams.push(u);
      return u;
    },
    recorder,
    log,
    now: () => now,
  });
  t.teardown(async () => {
    await app.close('shutdown', 0);
    socket.close();
    rmSync(runtimeDir, { recursive: true, force: true });
  });
  /** Runs an instance that answers, 40 s pass, then 3 requests in a row go unanswered. */
  const wedgeAfterHealthyRun = async (): Promise<void> => {
    const first = await app.acquire();
    first.responded();
    first.release();
    now += 40_000;
    for (let i = 0; i < 3; i++) {
      const lease = await app.acquire();
      lease.unanswered();
      lease.release();
    }
    await app.stopInstance('stop');
  };
  await wedgeAfterHealthyRun();
  t.same(exits, ['unresponsive']);
  t.equal(app.backoffRemainingMs, 0, 'a first replacement restarts at once');
  await wedgeAfterHealthyRun();
  t.same(exits, ['unresponsive', 'unresponsive']);
  t.equal(app.backoffRemainingMs, 1000, 'the second in a row backs off: the healthy-looking 40 s did not wipe the first');
  await t.rejects(app.acquire(), { code: 'WG_ERR_BACKOFF' }, 'and requests get the backoff answer');
  t.equal(upstreams.length, 2, 'two instances, no third start during the backoff');
});
