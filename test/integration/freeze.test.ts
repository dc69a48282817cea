// The freeze tier (freezeAfter): a quiet instance of the process runtime is frozen in its cgroup, uses no
// CPU while frozen, is thawed by the next request, and is still stopped at idleTimeout.
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/schema.js';
import type { AppSpec } from '../../src/config/types.js';
import { Gateway } from '../../src/gateway.js';
import type { AppState, ColdStartEvent, ExitEvent, Recorder } from '../../src/activator/recorder.js';
import { Cgroups } from '../../src/runtime/cgroup.js';
import { ProcessRuntime } from '../../src/runtime/process.js';
import type { HandedSocket, Instance, Runtime } from '../../src/runtime/runtime.js';
import type { Logger } from '../../src/log.js';
import { request } from 'undici';
import { alive, captureLogger, FIXTURE_APP, fixtureApp, get, sleep, startGateway, until, type LogLine } from '../helpers/gateway.js';
import { closed, loopbackAgent, nextMessage, openWebSocket } from '../helpers/websocket.js';
import { findTool, missingTool } from '../helpers/tools.js';
import { execFileSync } from 'node:child_process';
import { boundOf, echo, echoApp, EventLog, open, roundTrip } from '../helpers/socket-mode.js';

/** Every state change of every app, and a way to wait for the next one that matches. */
class StateLog implements Recorder {
  readonly seen: { app: string; to: AppState }[] = [];
  private readonly waiters = new Set<() => void>();
  stateChanged(app: string, _from: AppState, to: AppState): void {
    this.seen.push({ app, to });
    for (const w of [...this.waiters]) w();
  }
  coldStart(_app: string, _e: ColdStartEvent): void {}
  instanceExited(_app: string, _e: ExitEvent): void {}
  load(): void {}
  /** Resolves when `app` has entered `to` for the `nth` time (1-based). */
  reach(app: string, to: AppState, nth = 1, ms = 15_000): Promise<void> {
    const count = (): number => this.seen.filter((s) => s.app === app && s.to === to).length;
    if (count() >= nth) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (this.waiters.delete(check), reject(new Error(`timed out waiting for ${app} ${to} #${nth}`))), ms);
      const check = (): void => {
        if (count() < nth) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}

/** The process runtime with real per-instance cgroups; `breakThaw` makes every instance's thaw fail (the boundary we own). */
class TestRuntime implements Runtime {
  readonly kind = 'process';
  readonly instances: Instance[] = [];
  breakThaw = false;
  constructor(private readonly inner: ProcessRuntime) {}
  async start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance> {
    const real = await this.inner.start(app, sockets, log);
    const instance: Instance = this.breakThaw
      ? {
          id: real.id,
          runtime: real.runtime,
          pid: real.pid,
          exited: real.exited,
          stop: (ms) => real.stop(ms),
          stats: () => real.stats(),
          freeze: () => real.freeze!(),
          thaw: () => Promise.reject(new Error('thaw broken by the test')),
        }
      : real;
    this.instances.push(instance);
    return instance;
  }
}

interface Setup {
  readonly port: number;
  readonly states: StateLog;
  readonly runtime: TestRuntime;
  readonly cgroups: Cgroups;
  readonly lines: LogLine[];
  readonly waitFor: ReturnType<typeof captureLogger>['waitFor'];
  readonly gateway: Gateway;
  /** GET on the admin API: the body. */
  readonly admin: (path: string) => Promise<string>;
}

async function setup(t: Test, app: Record<string, unknown>): Promise<Setup> {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'wg-freeze-'));
  const doc = { listen: { http: '127.0.0.1:0' }, admin: { listen: '127.0.0.1:0' }, runtimeDir, shutdownTimeout: '2s', apps: { busy: { hosts: ['busy.localhost'], command: [process.execPath, 'busy.mjs'], dir: FIXTURE_APP, runtime: 'process', ...app } } };
  const config = validateConfig(doc, join(runtimeDir, 'test.yaml'));
  const cgroups = new Cgroups(runtimeDir);
  const runtime = new TestRuntime(new ProcessRuntime({ cgroups }));
  const states = new StateLog();
  const { log, lines, waitFor } = captureLogger();
  const gateway = await Gateway.start(config, { log, runtimeFor: () => runtime, recorder: states });
  t.teardown(async () => {
    await gateway.shutdown();
    rmSync(runtimeDir, { recursive: true, force: true });
  });
  const port = gateway.address.kind === 'tcp' ? gateway.address.port : 0;
  const adminPort = gateway.adminAddress?.kind === 'tcp' ? gateway.adminAddress.port : 0;
  const admin = async (path: string): Promise<string> => (await request(`http://127.0.0.1:${adminPort}${path}`)).body.text();
  return { port, states, runtime, cgroups, lines, waitFor, gateway, admin };
}

/** What the instance's freezer says: cgroup2's `frozen` event where it has a cgroup2 cgroup (as a freeze uses it), else v1's freezer.state. */
function freezerReads(cgroups: Cgroups, id: string): 'FROZEN' | 'THAWED' {
  const v2 = cgroups.controlFile(id, 'cgroup.freeze');
  if (v2) return /^frozen 1$/m.test(readFileSync(v2.replace(/cgroup\.freeze$/, 'cgroup.events'), 'utf8')) ? 'FROZEN' : 'THAWED';
  const v1 = cgroups.controlFile(id, 'freezer.state');
  if (!v1) throw new Error(`no freezer for ${id}`);
  return readFileSync(v1, 'utf8').trim() === 'FROZEN' ? 'FROZEN' : 'THAWED';
}

/** utime + stime of a pid, in ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function cpuMoves(pid: number, ms = 10_000): Promise<boolean> {
  const before = cpuTicks(pid);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await sleep(50);
    if (cpuTicks(pid) > before) return true;
  }
  return false;
}

const hasFreezer = existsSync('/sys/fs/cgroup/freezer/cgroup.procs') || existsSync('/sys/fs/cgroup/cgroup.controllers');
if (process.getuid?.() !== 0 || !hasFreezer) t.fail('these tests need root and a cgroup freezer (v1 freezer or cgroup2), as CI has');

t.test('a quiet instance is frozen (no CPU used), a request thaws it and is answered', async (t) => {
  const s = await setup(t, { freezeAfter: '1s', idleTimeout: '60s' });
  const first = await get(s.port, 'busy.localhost');
  t.equal(first.status, 200);
  const { pid } = JSON.parse(first.body) as { pid: number };
  const id = s.runtime.instances[0]!.id;
  t.ok(await cpuMoves(pid), 'precondition: the running app uses CPU');
  await s.states.reach('busy', 'frozen');
  t.match(await s.admin('/apps/busy'), /"state": ?"frozen"/, '/apps says frozen');
  t.match(await s.admin('/metrics'), /^wakegate_app_state\{app="busy",state="frozen"\} 1$/m, 'wakegate_app_state says frozen');
  t.equal(freezerReads(s.cgroups, id), 'FROZEN', "the instance's cgroup freezer reads FROZEN");
  const frozenAt = cpuTicks(pid);
  await sleep(500);
  t.equal(cpuTicks(pid), frozenAt, 'its utime+stime do not move while frozen');
  const second = await get(s.port, 'busy.localhost');
  t.equal(second.status, 200, 'a request to the frozen app is answered');
  t.equal((JSON.parse(second.body) as { pid: number }).pid, pid, 'by the same instance: no cold start');
  t.equal(s.runtime.instances.length, 1, 'one start only');
  t.equal(freezerReads(s.cgroups, id), 'THAWED', 'the freezer reads THAWED');
  t.ok(await cpuMoves(pid), 'the thawed app uses CPU again');
  await s.states.reach('busy', 'frozen', 2);
  t.pass('quiet again, it is frozen again');
});

t.test('a frozen instance is stopped at idleTimeout like a running one', async (t) => {
  const s = await setup(t, { freezeAfter: '300ms', idleTimeout: '2s' });
  const { pid } = JSON.parse((await get(s.port, 'busy.localhost')).body) as { pid: number };
  await s.states.reach('busy', 'frozen');
  const exit = await s.waitFor((l) => l.reason === 'idle' && l.app === 'busy', 15_000);
  t.equal(exit.instance, s.runtime.instances[0]!.id, 'the frozen instance was stopped for idleness');
  await s.states.reach('busy', 'stopped');
  t.notOk(alive(pid), 'its process is gone (thawed to take its SIGTERM)');
  t.equal(exit.signal, 'SIGTERM', 'it ended on the SIGTERM, not the SIGKILL after stopTimeout');
});

t.test('a failed thaw stops the instance (thaw_failed, counted) and the request gets a cold start', async (t) => {
  const s = await setup(t, { freezeAfter: '300ms', idleTimeout: '60s' });
  s.runtime.breakThaw = true;
  const { pid } = JSON.parse((await get(s.port, 'busy.localhost')).body) as { pid: number };
  await s.states.reach('busy', 'frozen');
  s.runtime.breakThaw = false;
  const reply = await get(s.port, 'busy.localhost');
  t.equal(reply.status, 200, 'the request is answered');
  t.not((JSON.parse(reply.body) as { pid: number }).pid, pid, 'by a new instance');
  t.equal(s.runtime.instances.length, 2, 'after a cold start');
  t.ok(s.lines.some((l) => l.msg === 'failed to thaw the instance; stopping it for a cold start' && l.app === 'busy'), 'the failure is logged');
  const exit = await s.waitFor((l) => l.reason === 'thaw_failed');
  t.equal(exit.instance, s.runtime.instances[0]!.id, 'the old instance exited as thaw_failed');
  t.notOk(alive(pid), 'and is gone');
  const metrics = await s.admin('/metrics');
  t.match(metrics, /^wakegate_instance_exits_total\{app="busy",reason="thaw_failed"\} 1$/m, 'counted in wakegate_instance_exits_total{reason="thaw_failed"}');
});

t.test('socket mode: a connection waiting in the kernel queue thaws the frozen instance, and is served', async (t) => {
  const events = new EventLog();
  const gw = await startGateway(t, { echo: echoApp('process', { listen: ['127.0.0.1:0'], freezeAfter: '300ms', idleTimeout: '60s' }) }, {}, { realRuntimes: true, recorder: events });
  const app = gw.gateway.apps.get('echo')!;
  const bound = boundOf(gw, 'echo', 'tcp:127.0.0.1:0');
  t.equal(await echo(bound, 'ping\n'), 'ping\n');
  await until(() => app.state === 'frozen', 15_000, 'frozen');
  t.equal(await echo(bound, 'again\n'), 'again\n', 'the next connection is served');
  t.equal(app.state, 'running', 'by the thawed instance');
  t.equal(events.starts('echo'), 1, 'no second start');
  t.ok(events.states.some((s, i) => s.to === 'running' && events.states[i - 1]?.to === 'frozen'), 'it went frozen → running');
});

const runc = findTool('runc');
const ociSkip = missingTool('runc', 'runc') || (process.getuid?.() !== 0 ? 'containers need root' : false);

t.test('oci: a quiet container is paused (runc pause), a request resumes it, and an idle stop of a paused one is clean', { skip: ociSkip }, async (t) => {
  const gw = await startGateway(t, { box: { hosts: ['box.localhost'], command: ['node', 'app.mjs'], dir: FIXTURE_APP, runtime: 'oci', freezeAfter: '300ms', idleTimeout: '4s' } }, {}, { realRuntimes: true });
  const app = gw.gateway.apps.get('box')!;
  const status = (id: string): string => (JSON.parse(execFileSync(runc!, ['--root', join(gw.config.runtimeDir, 'runc'), 'state', id], { encoding: 'utf8' })) as { status: string }).status;
  t.equal((await gw.get('box.localhost', '/requests')).status, 200);
  const instance = app.instance!;
  await until(() => app.state === 'frozen', 15_000, 'frozen');
  await until(() => status(instance.id) === 'paused', 5000, 'paused');
  t.pass('runc says paused');
  const reply = await gw.get('box.localhost', '/requests');
  t.equal(reply.status, 200, 'a request to the paused container is answered');
  t.equal(app.instance, instance, 'by the same container');
  t.equal(status(instance.id), 'running', 'runc says running');
  await until(() => app.state === 'frozen', 15_000, 'frozen again');
  await until(() => app.state === 'stopped', 20_000, 'idle stop');
  t.ok(gw.lines.some((l) => l.app === 'box' && l.reason === 'idle' && l.code === 0), 'the paused container was resumed to take its SIGTERM and exited 0');
});

t.test('an open WebSocket keeps its instance from freezing; once it closes, the instance freezes', async (t) => {
  // `clock` freezes after three of live's freezeAfter: its freeze is the event that says they passed.
  const events = new EventLog();
  const gw = await startGateway(
    t,
    { live: fixtureApp(['live.localhost'], { freezeAfter: '300ms', idleTimeout: '60s' }), clock: fixtureApp(['clock.localhost'], { freezeAfter: '900ms', idleTimeout: '60s' }) },
    {},
    { realRuntimes: true, recorder: events },
  );
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  const ws = await openWebSocket(gw.port, 'live.localhost', agent);
  t.equal((await gw.get('clock.localhost')).status, 200);
  await until(() => gw.gateway.apps.get('clock')!.state === 'frozen', 15_000, 'clock frozen');
  t.equal(gw.gateway.apps.get('live')!.state, 'running', 'live still running after 3 of its freezeAfter');
  t.notOk(events.states.some((s) => s.app === 'live' && s.to === 'frozen'), 'never frozen meanwhile');
  ws.send('still there?');
  t.equal(await nextMessage(ws), 'still there?', 'the WebSocket is served');
  ws.close();
  await closed(ws);
  await until(() => gw.gateway.apps.get('live')!.state === 'frozen', 15_000, 'live frozen');
  t.pass('frozen once the WebSocket closed');
});

t.test('socket mode: an open connection on the app\'s own socket keeps its instance from freezing', async (t) => {
  const events = new EventLog();
  const listen = { listen: ['127.0.0.1:0'], idleTimeout: '60s' };
  const gw = await startGateway(t, { held: echoApp('process', { ...listen, freezeAfter: '600ms' }), clock: echoApp('process', { ...listen, freezeAfter: '1800ms' }) }, { sampleInterval: '100ms' }, { realRuntimes: true, recorder: events });
  const held = gw.gateway.apps.get('held')!;
  const socket = await open(boundOf(gw, 'held', 'tcp:127.0.0.1:0'));
  t.teardown(() => socket.destroy());
  t.equal(await roundTrip(socket, 'hi\n'), 'hi\n');
  t.equal(await echo(boundOf(gw, 'clock', 'tcp:127.0.0.1:0'), 'tick\n'), 'tick\n');
  // `clock` freezes after three of held's freezeAfter: its freeze is the event that says they passed.
  await until(() => gw.gateway.apps.get('clock')!.state === 'frozen', 15_000, 'clock frozen');
  t.equal(held.state, 'running', 'held still running');
  t.notOk(events.states.some((s) => s.app === 'held' && s.to === 'frozen'), 'never frozen meanwhile');
  t.equal(await roundTrip(socket, 'still\n'), 'still\n', 'the connection is served');
  socket.destroy();
  await until(() => held.state === 'frozen', 15_000, 'held frozen');
  t.pass('frozen once the connection closed');
});

t.test('capacity: a frozen instance is evicted before a running one that was used less recently', async (t) => {
  const events = new EventLog();
  const quiet = { freezeAfter: '300ms', idleTimeout: '60s' };
  const gw = await startGateway(
    t,
    { cold: fixtureApp(['cold.localhost'], { idleTimeout: '60s' }), ice: fixtureApp(['ice.localhost'], quiet), next: fixtureApp(['next.localhost'], quiet) },
    { capacity: { maxRunning: 2 } },
    { realRuntimes: true, recorder: events },
  );
  // `cold` is used first (least recently), but cannot freeze; `ice` is used after it, and freezes.
  t.equal((await gw.get('cold.localhost')).status, 200);
  t.equal((await gw.get('ice.localhost')).status, 200);
  await until(() => gw.gateway.apps.get('ice')!.state === 'frozen', 15_000, 'ice frozen');
  t.equal((await gw.get('next.localhost')).status, 200, 'a third app starts, past maxRunning: 2');
  t.equal(events.exits.find((e) => e.reason === 'evicted')?.app, 'ice', 'the frozen one made room');
  t.equal(gw.gateway.apps.get('cold')!.state, 'running', 'the running one, though used less recently, stays');
});
