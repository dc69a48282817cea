// The hand-over of running instances between gateways (src/handover.ts), against real activators and real
// sockets, with a runtime of the test's own (the Runtime seam): which survivors are adopted, which are
// stopped and why, and how an adopted instance is served, handed over again, or stopped.
import { spawn } from 'node:child_process';
import { fstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AppActivator } from '../../src/activator/app-activator.js';
import type { Recorder } from '../../src/activator/recorder.js';
import type { AppSpec } from '../../src/config/types.js';
import { validateConfig } from '../../src/config/schema.js';
import { adoptSurvivors, handingOver } from '../../src/handover.js';
import { InstanceIds } from '../../src/runtime/instance-ids.js';
import { ProcessRuntime } from '../../src/runtime/process.js';
import type { ExitInfo, Instance, Runtime, Survivor } from '../../src/runtime/runtime.js';
import { specDigest } from '../../src/runtime/spec-digest.js';
import { AppSocket } from '../../src/upstream/app-socket.js';
import { createUpstream } from '../../src/upstream/pool.js';
import { captureLogger, fixtureApp } from '../helpers/gateway.js';

/** An instance that records what was done to it; its exit is the test's to cause. */
class FakeInstance implements Instance {
  readonly runtime = 'fake';
  readonly exited: Promise<ExitInfo>;
  stopped = false;
  detached = false;
  private exit!: (e: ExitInfo) => void;
  constructor(
    readonly id: string,
    readonly pid: number,
  ) {
    this.exited = new Promise((resolve) => (this.exit = resolve));
  }
  stop(): Promise<ExitInfo> {
    this.stopped = true;
    this.exit({ code: 0, signal: null });
    return this.exited;
  }
  stats(): Promise<{ memoryBytes: null; cpuNs: null }> {
    return Promise.resolve({ memoryBytes: null, cpuNs: null });
  }
  detach(): void {
    this.detached = true;
  }
}

t.test('survivors: the newest matching one is adopted; stale, unknown, moved and socketless ones are stopped', async (t) => {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'wg-handover-'));
  const appsDir = join(runtimeDir, 'apps');
  mkdirSync(appsDir, { mode: 0o700 });
  const dir = { path: appsDir, reach: (name: string) => join(appsDir, name) };
  const names = ['web', 'api', 'moved', 'lost'];
  const sockets = new Map(names.map((n) => [n, AppSocket.create(dir, n)]));
  const config = validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir, apps: Object.fromEntries(names.map((n) => [n, fixtureApp([`${n}.localhost`])])) }, join(runtimeDir, 'x.yaml'));
  // A process that holds none of the app sockets (the sockets were made anew: no fd store kept them).
  const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
  const { log, lines } = captureLogger();
  const recorder: Recorder = { stateChanged() {}, coldStart() {}, load() {}, instanceExited() {} };
  const instances = new Map<string, FakeInstance>();
  const survivor = (app: string, n: number, spec: AppSpec, pid = process.pid): Survivor => {
    const id = `wakegate-${app}-${n}`;
    return {
      app,
      id,
      digest: specDigest(spec),
      pid,
      adopt: () => {
        const instance = new FakeInstance(id, pid);
        instances.set(id, instance);
        return instance;
      },
    };
  };
  const web = config.apps.web!;
  const api = config.apps.api!;
  const fake: Runtime = {
    kind: 'fake',
    start: () => Promise.reject(new Error('not in this test')),
    survivors: async () => [
      survivor('web', 2, web),
      survivor('web', 3, web),
      survivor('api', 1, { ...api, env: { ...api.env, CHANGED: '1' } }),
      survivor('ghost', 1, web),
      survivor('moved', 1, config.apps.moved!),
      survivor('lost', 1, config.apps.lost!, stranger.pid!),
      { ...survivor('web', 9, web), adopt: () => { throw new Error('ESRCH'); } },
    ],
  };
  const other = new ProcessRuntime();
  const runtimeFor = (spec: AppSpec): Runtime => (spec.name === 'moved' ? other : fake);
  const activators = new Map(names.map((n) => [n, new AppActivator(config.apps[n]!, {
    runtimeFor,
    sockets: () => [{ fd: sockets.get(n)!.fd, name: n }],
    createUpstream: (s) => createUpstream(sockets.get(n)!.connectPath, { connections: s.concurrency }),
    recorder,
    log,
  })]));
  t.teardown(async () => {
    await Promise.all([...activators.values()].map((a) => a.close('shutdown', 0)));
    for (const s of sockets.values()) s.close();
    stranger.kill('SIGKILL');
    rmSync(runtimeDir, { recursive: true, force: true });
  });
  const apps = {
    get: (name: string) => activators.get(name),
    listeners: (name: string) => (sockets.has(name) ? [{ inode: fstatSync(sockets.get(name)!.fd).ino }] : []),
  };

  await adoptSurvivors([other, fake], apps, runtimeFor, log);

  t.equal(activators.get('web')!.state, 'running', 'web runs at once, with no start');
  t.equal(activators.get('web')!.instance?.id, 'wakegate-web-3', 'the newest of its instances');
  t.equal(activators.get('web')!.record.lastColdStart, undefined, 'no cold start recorded');
  t.ok(activators.get('web')!.idleDeadline !== undefined, 'its idle countdown runs from now');
  const reasons = Object.fromEntries(lines.filter((l) => l.reason).map((l) => [l.instance, l.reason]));
  t.same(reasons, {
    'wakegate-web-2': 'a newer instance of app web (wakegate-web-3) was adopted',
    'wakegate-api-1': 'the config of app api changed since it started',
    'wakegate-ghost-1': 'no app of that name is configured',
    'wakegate-moved-1': 'app moved runs on process now',
    'wakegate-lost-1': 'it does not hold the current sockets of app lost (made anew: the fd store did not keep them)',
  });
  for (const id of Object.keys(reasons)) t.ok(instances.get(id)?.stopped, `${id} was stopped`);
  t.notOk(instances.get('wakegate-web-3')!.stopped, 'the adopted one was not');
  t.ok(lines.some((l) => l.instance === 'wakegate-web-9' && /ended before it could be adopted/.test(String(l.msg))), 'one gone meanwhile is skipped');
  for (const n of ['api', 'moved', 'lost']) t.equal(activators.get(n)!.state, 'stopped', `${n} starts anew on demand`);

  await t.test('a shutdown that hands over detaches the running instance; one that does not stops it', async (t) => {
    t.equal(await activators.get('web')!.close('shutdown', 0, true), true, 'left running');
    t.ok(instances.get('wakegate-web-3')!.detached);
    t.notOk(instances.get('wakegate-web-3')!.stopped);
    t.equal(activators.get('web')!.state, 'stopped');
  });
});

t.test('handingOver: yes if any runtime says so; a runtime that cannot tell counts as no, with a warning', async (t) => {
  const { log, lines } = captureLogger();
  const base = { start: () => Promise.reject(new Error('unused')) };
  const yes: Runtime = { ...base, kind: 'yes', handingOver: async () => true };
  const broken: Runtime = { ...base, kind: 'broken', handingOver: () => Promise.reject(new Error('bus gone')) };
  t.equal(await handingOver([new ProcessRuntime(), broken], log), false);
  t.ok(lines.some((l) => l.runtime === 'broken' && /cannot tell a restart from a stop/.test(String(l.msg))));
  t.equal(await handingOver([broken, yes], log), true);
});

t.test('specDigest ignores key order and undefined fields; any value change changes it', async (t) => {
  const a = { name: 'x', env: { A: '1', B: '2' }, command: ['node', 'a.mjs'] } as unknown as AppSpec;
  const b = { command: ['node', 'a.mjs'], env: { B: '2', A: '1' }, name: 'x', uid: undefined } as unknown as AppSpec;
  t.equal(specDigest(a), specDigest(b));
  t.match(specDigest(a), /^[0-9a-f]{12}$/);
  t.not(specDigest({ ...a, command: ['node', 'b.mjs'] } as AppSpec), specDigest(a));
});

t.test('InstanceIds: parse reads app and number; reserve makes the next number go above', async (t) => {
  t.same(InstanceIds.parse('wakegate-my-app-12'), { app: 'my-app', n: 12 });
  t.equal(InstanceIds.parse('wakegate-x'), undefined);
  t.equal(InstanceIds.parse('other-x-1'), undefined);
  const ids = new InstanceIds();
  ids.reserve('web', 4);
  ids.reserve('web', 2);
  t.equal(ids.next('web'), 'wakegate-web-5');
  t.equal(ids.next('api'), 'wakegate-api-1');
});
