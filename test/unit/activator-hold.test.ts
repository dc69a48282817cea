// The activator's hooks for requests served in other processes (workers): holds, the idle check before a
// stop, and the failures told to whoever holds an instance. A real process runtime and app socket.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AppActivator } from '../../src/activator/app-activator.js';
import type { AppState, Recorder } from '../../src/activator/recorder.js';
import { validateConfig } from '../../src/config/schema.js';
import type { WakegateError } from '../../src/errors.js';
import { ProcessRuntime } from '../../src/runtime/process.js';
import { AppSocket } from '../../src/upstream/app-socket.js';
import { createUpstream } from '../../src/upstream/pool.js';
import { captureLogger, fixtureApp } from '../helpers/gateway.js';

interface Hooks {
  confirmIdle?: (generation: number) => Promise<boolean>;
  failed: Array<[number, WakegateError]>;
}

function activator(t: Test, hooks: Hooks, extra: Record<string, unknown> = {}): AppActivator {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'wg-hold-'));
  const appsDir = join(runtimeDir, 'apps');
  mkdirSync(appsDir, { mode: 0o700 });
  const socket = AppSocket.create({ path: appsDir, reach: (name) => join(appsDir, name) }, 'a');
  const spec = validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir, apps: { a: fixtureApp(['a.localhost'], extra) } }, join(runtimeDir, 'x.yaml')).apps.a!;
  const recorder: Recorder = { stateChanged() {}, coldStart() {}, load() {}, instanceExited() {} };
  const app = new AppActivator(spec, {
    runtimeFor: () => new ProcessRuntime(),
    sockets: () => [{ fd: socket.fd, name: 'a' }],
    createUpstream: (s) => createUpstream(socket.connectPath, { connections: s.concurrency }),
    recorder,
    log: captureLogger().log,
    ...(hooks.confirmIdle && { confirmIdle: hooks.confirmIdle }),
    generationFailed: (generation, failure) => void hooks.failed.push([generation, failure]),
  });
  t.teardown(async () => {
    await app.close('shutdown', 0);
    socket.close();
    rmSync(runtimeDir, { recursive: true, force: true });
  });
  return app;
}

function reaches(app: AppActivator, state: AppState): Promise<void> {
  if (app.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const off = app.onStateChange((s) => s === state && (off(), resolve()));
  });
}

t.test('a hold is a lease without a slot: it confirms the start, keeps the idle countdown off, and a drain waits for it', async (t) => {
  const app = activator(t, { failed: [] }, { idleTimeout: '100ms' });
  (await app.acquire()).release();
  t.equal(app.state, 'starting');
  const hold = app.holdFor(app.generation!)!;
  t.ok(hold, 'held on the current generation');
  t.equal(app.holdFor(app.generation! + 1000), undefined, 'not on another one');
  hold.responded();
  t.equal(app.state, 'running', 'the first answer seen elsewhere ends the cold start');
  t.equal(app.idleDeadline, undefined, 'no idle countdown while held');
  t.equal(app.inflight, 1, 'it counts as in flight');
  const drained = app.drain(10_000);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(app.state, 'stopping', 'the drain waits for the hold');
  t.ok(app.instance, 'the instance still runs');
  hold.release();
  hold.release();
  await drained;
  t.equal(app.state, 'stopped', 'released once (twice is a no-op), the drain ends');
});

t.test('the idle check: false keeps the instance up and counts down again, true stops it', async (t) => {
  const verdicts = [false, true];
  const asked: number[] = [];
  const app = activator(t, { failed: [], confirmIdle: async (generation) => (asked.push(generation), verdicts.shift()!) }, { idleTimeout: '100ms' });
  const lease = await app.acquire();
  lease.responded();
  lease.release();
  const generation = app.generation!;
  await reaches(app, 'stopping');
  t.same(asked, [generation, generation], 'asked twice about the same instance: it stayed up after the first');
});

t.test('an instance that exits fails its generation for those who hold it elsewhere', async (t) => {
  const hooks: Hooks = { failed: [] };
  const app = activator(t, hooks);
  const lease = await app.acquire();
  lease.responded();
  lease.release();
  const generation = app.generation!;
  process.kill(app.instance!.pid, 'SIGKILL');
  await reaches(app, 'stopped');
  t.equal(hooks.failed.length, 1, 'told once');
  t.equal(hooks.failed[0]![0], generation);
  t.equal(hooks.failed[0]![1].code, 'WG_ERR_INSTANCE_CRASHED');
});
