// `runtime: systemd` and MemoryMax under a real systemd 252, on this host's cgroup layout: hybrid, with the
// memory controller on v1 (cgroup2 at /sys/fs/cgroup/unified has none). The machine is booted hybrid with
// its v1 memory hierarchy writable (Machine.boot `cgroups: 'memory-v1'`), as a hybrid host's own systemd
// has it; systemd then puts MemoryMax in the scope's memory.limit_in_bytes. It reports neither the OOM
// kill (its scope ends `success`) nor keeps the cgroup to read it from, so the gateway learns `oom` from
// the kernel's v1 OOM notification (src/runtime/scope-oom.ts). One machine for the file; the subtests
// run in order, each from the state the previous one left.
import { existsSync } from 'node:fs';
import t from 'tap';
import { MACHINE_TOOLS } from '../helpers/systemd-machine.js';
import { bootWithWakegate, configHead, get, journal, until, type Ports } from '../helpers/systemd-wakegate.js';
import { missingTools } from '../helpers/tools.js';

const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting a machine needs root')
  || (!existsSync('/sys/fs/cgroup/memory/cgroup.procs') && 'no v1 memory hierarchy: this test is of the hybrid layout');
const HOG = 'hog.localhost';
const LIMIT = 64 * 1024 * 1024;

function config(ports: Ports): string {
  return `${configHead(ports, 'systemd')}apps:
  hog:
    hosts: ["${HOG}"]
    command: ["node", "app.mjs"]
    dir: /opt/wakegate/test/fixtures/apps
    memory: 64M
  ice:
    hosts: ["ice.localhost"]
    command: ["node", "server.mjs"]
    dir: /opt/wakegate/examples/hello
    freezeAfter: 1s
`;
}

interface AppStatus {
  readonly name: string;
  readonly instance: { readonly id: string; readonly pid: number } | null;
  readonly memoryBytes: number | null;
  readonly lastExit: { readonly reason: string; readonly signal: string | null } | null;
}

t.test('runtime systemd: MemoryMax on the v1 memory controller under systemd 252', { skip }, async (t) => {
  const { machine, ports } = await bootWithWakegate(t, {}, { cgroups: 'memory-v1' });
  machine.writeFile('/etc/wakegate/wakegate.yaml', config(ports));
  await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
  const withJournal = async (err: Error): Promise<never> => { throw new Error(`${err.message}\njournal:\n${await journal(machine)}`); };
  const hog = async (): Promise<AppStatus> => {
    const apps = JSON.parse((await get(ports.admin, `127.0.0.1:${ports.admin}`, '/apps')).body) as AppStatus[];
    return apps.find((a) => a.name === 'hog')!;
  };
  let pid = 0;

  await t.test('systemd puts MemoryMax in the scope\'s v1 memory cgroup, and reports its use', async (t) => {
    const answer = await get(ports.http, HOG).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    pid = (JSON.parse(answer.body) as { pid: number }).pid;
    const unit = 'wakegate-hog-1.scope';
    t.equal(await machine.show(unit, 'MemoryMax'), String(LIMIT));
    const cgroups = (await machine.run(['cat', `/proc/${pid}/cgroup`])).stdout;
    const memory = /^\d+:memory:(.*)$/m.exec(cgroups)?.[1];
    t.equal(memory, `/wakegate.slice/${unit}`, 'the tenant is in the scope\'s memory cgroup');
    t.equal((await machine.run(['cat', `/sys/fs/cgroup/memory${memory}/memory.limit_in_bytes`])).stdout.trim(), String(LIMIT), 'the kernel has the limit');
    const current = Number(await machine.show(unit, 'MemoryCurrent'));
    t.ok(current > 0 && current < LIMIT, `MemoryCurrent ${current}, from the v1 controller`);
    const status = await hog();
    t.ok(typeof status.memoryBytes === 'number' && status.memoryBytes > 0 && status.memoryBytes < LIMIT, `/apps memoryBytes ${status.memoryBytes}`);
  });

  await t.test('an allocation past it is OOM-killed: the requests in flight get 502, the exit is reported oom', async (t) => {
    // A request the app holds unanswered, and known to have reached it (the app counts what it received).
    const hung = get(ports.http, HOG, '/hang', 30_000);
    let polls = 0;
    await until('the /hang request reached the app', async () => {
      polls += 1;
      return (JSON.parse((await get(ports.http, HOG, '/requests')).body) as { requests: number }).requests;
    }, (requests) => requests >= 1 + polls, 10_000); // counted before this one: the first GET, /hang, the earlier polls
    const alloc = await get(ports.http, HOG, '/probe/alloc?mb=200').catch(withJournal);
    t.equal(alloc.status, 502, `the allocating request: ${alloc.body}`);
    t.equal((await hung).status, 502, 'the other request in flight');
    const exited = await until('hog lastExit', hog, (s) => s.instance === null && s.lastExit !== null, 20_000).catch(withJournal);
    t.same(exited.lastExit && { reason: exited.lastExit.reason, signal: exited.lastExit.signal }, { reason: 'oom', signal: 'SIGKILL' }, 'reported oom');
    const metrics = (await get(ports.admin, `127.0.0.1:${ports.admin}`, '/metrics')).body;
    t.match(metrics, /^wakegate_instance_exits_total\{[^}]*reason="oom"[^}]*\} 1$/m, 'counted as an oom exit');
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-hog-1.scope')).trim(), '', 'the scope is gone');
  });

  await t.test('the next request cold-starts a new instance in a new scope, and is served', async (t) => {
    const answer = await get(ports.http, HOG).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    const next = (JSON.parse(answer.body) as { pid: number }).pid;
    t.not(next, pid, 'a new instance');
    t.equal(await machine.show('wakegate-hog-2.scope', 'ActiveState'), 'active');
    pid = next;
  });

  await t.test('a SIGKILL that is no OOM kill is reported killed, not oom', async (t) => {
    await machine.run(['kill', '-KILL', String(pid)]);
    const exited = await until('hog lastExit', hog, (s) => s.instance === null, 20_000).catch(withJournal);
    t.same(exited.lastExit && { reason: exited.lastExit.reason, signal: exited.lastExit.signal }, { reason: 'killed', signal: 'SIGKILL' });
  });

  await t.test('freezeAfter on a hybrid host: FreezeUnit is refused, logged, and the instance keeps serving', async (t) => {
    const first = await get(ports.http, 'ice.localhost').catch(withJournal);
    t.equal(first.status, 200, first.body);
    const logged = await until('the refused freeze in the journal', () => journal(machine, 100), (j) => /failed to freeze the instance; it keeps running/.test(j), 20_000).catch(withJournal);
    t.match(logged, /NotSupported|not support/i, 'systemd says it cannot freeze without a cgroup2 freezer');
    const apps = JSON.parse((await get(ports.admin, `127.0.0.1:${ports.admin}`, '/apps')).body) as { name: string; state: string }[];
    t.equal(apps.find((a) => a.name === 'ice')?.state, 'running', 'back to running, not left frozen');
    const again = await get(ports.http, 'ice.localhost').catch(withJournal);
    t.equal(again.status, 200);
    t.equal(/\(pid (\d+)\)/.exec(again.body)?.[1], /\(pid (\d+)\)/.exec(first.body)?.[1], 'the same instance serves on');
  });

  await t.test('systemctl stop of the gateway leaves no wakegate unit behind', async (t) => {
    // Two unexpected exits in a row: the crash backoff refuses starts (503) for a moment.
    const served = await until('hog served again', async () => (await get(ports.http, HOG)).status, (s) => s === 200, 20_000).catch(withJournal);
    t.equal(served, 200, 'an instance is running when the gateway stops');
    await machine.systemctl('stop', 'wakegate.service', 'wakegate.socket', 'wakegate-admin.socket');
    t.equal((await machine.systemctl('list-units', '--plain', '--no-legend', 'wakegate-*')).trim(), '', 'no wakegate unit is active');
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-*.scope')).trim(), '', 'no scope, not even an inactive one');
    const left = (await machine.run(['find', '/sys/fs/cgroup/memory/wakegate.slice', '-mindepth', '1', '-type', 'd'], { allowFailure: true })).stdout.trim();
    t.equal(left, '', 'no memory cgroup of a scope');
  });
});
