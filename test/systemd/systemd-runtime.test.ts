// `runtime: systemd` under a real systemd 252 (a machine booted with systemd-nspawn, see
// test/helpers/systemd-machine.ts): the gateway, installed from units/ as wakegate.service, places each
// instance in a transient scope over the system bus. One machine for the whole file; the subtests run in
// order, each from the state the previous one left.
//
// Not here: MemoryMax enforcement. This machine is booted unified (as runc inside needs), and its cgroup2
// tree has no controllers at all (on this hybrid host the memory controller is bound to v1), so systemd
// accepts MemoryMax but nothing enforces it and no MemoryCurrent exists to show. systemd-memory.test.ts
// boots a hybrid machine with a writable v1 memory hierarchy instead, where 252 enforces it.
import t, { type Test } from 'tap';
import { MACHINE_TOOLS } from '../helpers/systemd-machine.js';
import { bootWithWakegate, configHead, helloAndNap, get, post, journal, until, type Ports } from '../helpers/systemd-wakegate.js';
import { missingTools } from '../helpers/tools.js';

const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting a machine needs root');
const HELLO = 'hello.localhost';
const NAP = 'nap.localhost';
const ICE = 'ice.localhost';

/** hello with limits and a long idleTimeout; nap, the same program, with a 1 s one for the idle stop; ice, frozen after 1 s quiet. */
function config(ports: Ports): string {
  return `${configHead(ports, 'systemd')}apps:
${helloAndNap(HELLO, NAP)}  ice:
    hosts: ["${ICE}"]
    command: ["node", "server.mjs"]
    dir: /opt/wakegate/examples/hello
    freezeAfter: 1s
    idleTimeout: 6s
`;
}

interface AppRow { readonly name: string; readonly state: string; readonly lastExit: { readonly reason: string; readonly code: number | null; readonly signal: string | null } | null }

/** The pid the hello example reports in its answer. */
function pidOf(body: string): number {
  return Number(/\(pid (\d+)\)/.exec(body)?.[1] ?? NaN);
}

t.test('runtime systemd under systemd 252', { skip }, async (t) => {
  const { machine, ports } = await bootWithWakegate(t);
  machine.writeFile('/etc/wakegate/wakegate.yaml', config(ports));
  await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
  const withJournal = async (err: Error): Promise<never> => { throw new Error(`${err.message}\njournal:\n${await journal(machine)}`); };
  let serving = false;
  const needServing = (t: Test): boolean => {
    t.ok(serving, 'hello was served from its scope (an earlier subtest)');
    return serving;
  };
  let helloPid = 0;

  await t.test('the first request starts hello in wakegate-hello-1.scope under wakegate.slice, with its limits', async (t) => {
    const answer = await get(ports.http, HELLO).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    helloPid = pidOf(answer.body);
    const unit = 'wakegate-hello-1.scope';
    const status = await machine.run(['systemctl', 'status', '--no-pager', '--lines=0', unit], { allowFailure: true });
    t.equal(status.code, 0, `systemctl status: ${status.stdout}${status.stderr}`);
    t.match(status.stdout, /wakegate app hello \(wakegate-hello-1, spec [0-9a-f]{12}\)/, 'Description names the app, the instance and its spec digest');
    t.match(status.stdout, /Active: active \(running\)/);
    t.match(status.stdout, new RegExp(`${helloPid} node server\\.mjs`), 'the tenant pid is in the scope');
    t.equal(await machine.show(unit, 'Slice'), 'wakegate.slice');
    t.equal(await machine.show(unit, 'MemoryMax'), String(64 * 1024 * 1024));
    t.equal(await machine.show(unit, 'MemorySwapMax'), '0');
    t.equal(await machine.show(unit, 'TasksMax'), '32');
    t.equal(await machine.show(unit, 'CPUWeight'), '50');
    t.equal(await machine.show(unit, 'CollectMode'), 'inactive-or-failed');
    const cgroup = (await machine.run(['cat', `/proc/${helloPid}/cgroup`])).stdout.split('\n').find((l) => l.startsWith('0::'));
    t.equal(cgroup, `0::/wakegate.slice/${unit}`, 'the kernel has it in the scope cgroup');
    serving = answer.status === 200;
  });

  await t.test('systemd-cgls shows the tenant under wakegate.slice', async (t) => {
    if (!needServing(t)) return;
    const tree = (await machine.run(['systemd-cgls', '--no-pager', '-l', '-u', 'wakegate.slice'])).stdout;
    t.match(tree, /wakegate-hello-1\.scope/, tree);
    t.match(tree, new RegExp(`${helloPid} node server\\.mjs`));
  });

  await t.test('/apps shows the instance on runtime systemd, and its memory', async (t) => {
    if (!needServing(t)) return;
    const apps = JSON.parse((await get(ports.admin, `127.0.0.1:${ports.admin}`, '/apps')).body) as { name: string; runtime: string; instance: { id: string; pid: number } | null; memoryBytes: number | null }[];
    const hello = apps.find((a) => a.name === 'hello');
    t.same(hello?.instance, { id: 'wakegate-hello-1', pid: helloPid });
    t.equal(hello?.runtime, 'systemd');
    // No memory controller in this machine: systemd has no MemoryCurrent, so the main process's RSS stands in.
    t.equal(await machine.show('wakegate-hello-1.scope', 'MemoryCurrent'), '[not set]');
    t.ok(typeof hello?.memoryBytes === 'number' && hello.memoryBytes > 10 * 1024 * 1024, `memoryBytes ${hello?.memoryBytes}`);
  });

  await t.test('restarting dbus is survived: the tenant keeps serving, and the next start gets its scope', async (t) => {
    if (!needServing(t)) return;
    await machine.systemctl('restart', 'dbus.service');
    const during = await get(ports.http, HELLO).catch(withJournal);
    t.equal(during.status, 200);
    t.equal(pidOf(during.body), helloPid, 'the same instance answers');
    // A new start needs the bus again: the gateway must have reconnected (and subscribed) for its job to finish.
    t.equal(await post(ports.admin, '/apps/hello/stop'), 200, 'the admin stop');
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-hello-1.scope')).trim(), '', 'the stopped scope is gone');
    const after = await get(ports.http, HELLO).catch(withJournal);
    t.equal(after.status, 200);
    t.not(pidOf(after.body), helloPid, 'a new instance');
    t.equal(await machine.show('wakegate-hello-2.scope', 'ActiveState'), 'active', 'in a scope of its own');
    t.match(await journal(machine, 200), /reconnected to the system bus/);
  });

  await t.test('a D-Bus failure (the next scope name is taken) fails the start, caused by a DbusCallError naming UnitExists', async (t) => {
    if (!needServing(t)) return;
    t.equal(await post(ports.admin, '/apps/hello/stop'), 200, 'hello-2 stopped');
    // Someone else's scope, under the name the gateway will pick next; it must be left alone.
    await machine.run(['sh', '-c', 'systemd-run --quiet --scope --unit=wakegate-hello-3 sleep 600 >/dev/null 2>&1 &']);
    await until('wakegate-hello-3.scope', () => machine.show('wakegate-hello-3.scope', 'ActiveState'), (s) => s === 'active', 10_000);
    const refused = await get(ports.http, HELLO).catch(withJournal);
    t.equal(refused.status, 503, refused.body);
    const logged = await journal(machine, 200);
    // The cause of WG_ERR_START_FAILED is the typed DbusCallError (WG_ERR_DBUS) with the D-Bus error name.
    t.match(logged, /"code":"WG_ERR_START_FAILED"/);
    t.match(logged, /caused by: DbusCallError: systemd StartTransientUnit failed: org\.freedesktop\.systemd1\.UnitExists/);
    t.equal(await machine.show('wakegate-hello-3.scope', 'ActiveState'), 'active', 'the other scope was not stopped');
    await machine.systemctl('stop', 'wakegate-hello-3.scope');
  });

  await t.test('an idle stop leaves no unit behind', async (t) => {
    const answer = await get(ports.http, NAP).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    t.equal(await machine.show('wakegate-nap-1.scope', 'ActiveState'), 'active');
    const left = await until('wakegate-nap-* units', async () => (await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-nap-*')).trim(), (s) => s === '', 20_000)
      .catch(withJournal);
    t.equal(left, '', 'no unit, not even an inactive one');
    t.notOk((await machine.run(['test', '-e', '/sys/fs/cgroup/wakegate.slice/wakegate-nap-1.scope'], { allowFailure: true })).code === 0, 'its cgroup is gone');
  });

  await t.test('freezeAfter: FreezeUnit freezes the quiet scope, a request thaws it, and the idle stop of a frozen one is clean', async (t) => {
    const scope = 'wakegate-ice-1.scope';
    const first = await get(ports.http, ICE).catch(withJournal);
    t.equal(first.status, 200, first.body);
    const ice = async (): Promise<AppRow | undefined> => (JSON.parse((await get(ports.admin, `127.0.0.1:${ports.admin}`, '/apps')).body) as AppRow[]).find((a) => a.name === 'ice');
    await until('ice frozen', ice, (a) => a?.state === 'frozen', 20_000).catch(withJournal);
    t.equal(await machine.show(scope, 'FreezerState'), 'frozen', 'systemd has the scope frozen');
    const events = (await machine.run(['cat', `/sys/fs/cgroup/wakegate.slice/${scope}/cgroup.events`])).stdout;
    t.match(events, /^frozen 1$/m, `the kernel has its cgroup frozen: ${events}`);
    const thawed = await get(ports.http, ICE).catch(withJournal);
    t.equal(thawed.status, 200, 'the next request is served');
    t.equal(pidOf(thawed.body), pidOf(first.body), 'by the same instance, thawed rather than restarted');
    t.equal(await machine.show(scope, 'FreezerState'), 'running');
    // Quiet again: frozen after 1 s, then stopped at its 6 s idleTimeout while frozen.
    await until('ice frozen again', ice, (a) => a?.state === 'frozen', 20_000).catch(withJournal);
    const stopped = await until('ice stopped', ice, (a) => a?.state === 'stopped', 30_000).catch(withJournal);
    t.same(stopped?.lastExit && { reason: stopped.lastExit.reason, code: stopped.lastExit.code, signal: stopped.lastExit.signal }, { reason: 'idle', code: 0, signal: null }, 'thawed for its SIGTERM and exited by itself, not killed');
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-ice-*')).trim(), '', 'no unit left');
  });

  await t.test('systemctl stop: the gateway stops its tenant, exits cleanly and leaves no scope', async (t) => {
    const answer = await get(ports.http, HELLO).catch(withJournal);
    t.equal(answer.status, 200);
    await machine.systemctl('stop', 'wakegate.service');
    t.equal(await machine.show('wakegate.service', 'Result'), 'success', 'not killed at TimeoutStopSec');
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-*.scope')).trim(), '', 'no scope left');
    t.match(await journal(machine, 20), /shutdown complete/);
  });
});
