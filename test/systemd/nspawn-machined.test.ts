// `runtime: nspawn` under a real systemd 252 (a machine booted with systemd-nspawn, see
// test/helpers/systemd-machine.ts), where systemd-machined is on the system bus: the gateway, installed as
// wakegate.service, runs a nested systemd-nspawn per instance with `--register=yes`, so machined makes
// the container's scope `machine-<name>.scope` under wakegate.slice with the app's limits, and
// `machinectl list` shows it. One machine for the whole file; the subtests run in order.
//
// Not here: MemoryMax enforcement (the machine's cgroup2 tree has no controllers, see
// systemd-runtime.test.ts); the limits are checked as systemd holds them.
import t from 'tap';
import { MACHINE_TOOLS } from '../helpers/systemd-machine.js';
import { bootWithWakegate, configHead, helloAndNap, get, post, journal, until, type Ports } from '../helpers/systemd-wakegate.js';
import { missingTools } from '../helpers/tools.js';

const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting a machine needs root');
const HELLO = 'hello.localhost';
const NAP = 'nap.localhost';
const STUBBORN = 'stubborn.localhost';

/** hello with limits; nap with a 1 s idleTimeout; stubborn ignores SIGTERM, so its stop needs the kill. */
function config(ports: Ports): string {
  return `${configHead(ports, 'nspawn')}apps:
${helloAndNap(HELLO, NAP)}  stubborn:
    hosts: ["${STUBBORN}"]
    command: ["node", "-e", "process.on('SIGTERM', () => {}); require('http').createServer((q, s) => s.end('stubborn')).listen({ fd: 3 })"]
    dir: /opt/wakegate/examples/hello
    stopTimeout: 1s
`;
}

/** The unit machined makes for a machine: `machine-<name>.scope`, the name escaped as systemd does. */
function scopeOf(machine: string): string {
  return `machine-${machine.replace(/-/g, '\\x2d')}.scope`;
}

t.test('runtime nspawn registered with systemd-machined under systemd 252', { skip }, async (t) => {
  const { machine, ports } = await bootWithWakegate(t);
  machine.writeFile('/etc/wakegate/wakegate.yaml', config(ports));
  await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
  const withJournal = async (err: Error): Promise<never> => { throw new Error(`${err.message}\njournal:\n${await journal(machine)}`); };
  const machines = async (): Promise<string[]> =>
    (await machine.run(['machinectl', 'list', '--no-legend', '--no-pager'])).stdout.split('\n').map((l) => l.split(/\s+/)[0]!).filter(Boolean);
  const scopes = async (pattern: string): Promise<string> =>
    (await machine.systemctl('list-units', '--all', '--plain', '--no-legend', pattern)).trim();
  /** The container's PID 1 as the booted machine sees it, from machined. */
  const leaderOf = async (name: string): Promise<number> =>
    Number((await machine.run(['machinectl', 'show', '--property=Leader', '--value', name])).stdout.trim());
  const alive = async (pid: number): Promise<boolean> => (await machine.run(['kill', '-0', String(pid)], { allowFailure: true })).code === 0;
  /** Everything of instance `name` in the booted machine: its machine, its scope, its leader process. */
  const leftoversOf = async (name: string, leader: number): Promise<string[]> => [
    ...((await machines()).includes(name) ? [`machine ${name}`] : []),
    ...((await scopes(scopeOf(name))) === '' ? [] : [`unit ${scopeOf(name)}`]),
    ...((await alive(leader)) ? [`process ${leader}`] : []),
  ];

  await t.test('a request is served through the container, registered as wakegate-hello-1 with its limits on its scope', async (t) => {
    const answer = await get(ports.http, HELLO).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    t.match(answer.body, /hello from hello \(pid 1\)/, 'the app is PID 1 of the container');
    t.ok((await machines()).includes('wakegate-hello-1'), 'machinectl list shows the instance');
    const scope = scopeOf('wakegate-hello-1');
    t.equal(await machine.show(scope, 'ActiveState'), 'active');
    t.equal(await machine.show(scope, 'Slice'), 'wakegate.slice');
    t.equal(await machine.show(scope, 'MemoryMax'), String(64 * 1024 * 1024));
    t.equal(await machine.show(scope, 'MemorySwapMax'), '0');
    t.equal(await machine.show(scope, 'TasksMax'), '32');
    t.equal(await machine.show(scope, 'CPUWeight'), '50');
    const leader = await leaderOf('wakegate-hello-1');
    const cgroup = (await machine.run(['cat', `/proc/${leader}/cgroup`])).stdout.split('\n').find((l) => l.startsWith('0::'));
    t.equal(cgroup, `0::/wakegate.slice/${scope}/payload`, 'the container runs in the scope, out of the gateway');
  });

  await t.test('/apps counts the container in the instance memory', async (t) => {
    const apps = JSON.parse((await get(ports.admin, `127.0.0.1:${ports.admin}`, '/apps')).body) as { name: string; runtime: string; memoryBytes: number | null; instance: { pid: number } | null }[];
    const hello = apps.find((a) => a.name === 'hello');
    t.equal(hello?.runtime, 'nspawn');
    const leader = await leaderOf('wakegate-hello-1');
    const rss = async (pid: number): Promise<number> =>
      Number(/^VmRSS:\s+(\d+) kB/m.exec((await machine.run(['cat', `/proc/${pid}/status`])).stdout)?.[1] ?? 0) * 1024;
    // Without the scope's share the figure is nspawn's alone, which is below node's (the app) by far.
    const app = await rss(leader);
    t.ok(typeof hello?.memoryBytes === 'number' && hello.memoryBytes >= app, `memoryBytes ${hello?.memoryBytes} includes the app's RSS ${app}`);
  });

  await t.test('an idle stop leaves no machine, no scope, no process', async (t) => {
    const answer = await get(ports.http, NAP).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    t.ok((await machines()).includes('wakegate-nap-1'), 'registered while it runs');
    const leader = await leaderOf('wakegate-nap-1');
    t.ok(await alive(leader), `its PID 1 (${leader}) runs`);
    const left = await until('wakegate-nap-1', () => leftoversOf('wakegate-nap-1', leader), (l) => l.length === 0, 20_000).catch(withJournal);
    t.same(left, []);
  });

  await t.test('an app that ignores SIGTERM: after stopTimeout, its container is killed too, and nothing is left', async (t) => {
    const answer = await get(ports.http, STUBBORN).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    const leader = await leaderOf('wakegate-stubborn-1');
    t.ok(await alive(leader), `its PID 1 (${leader}) runs`);
    t.equal(await post(ports.admin, '/apps/stubborn/stop'), 200, 'the admin stop');
    // The stop answers once the instance has exited, which waits for machined to drop the machine.
    t.same(await leftoversOf('wakegate-stubborn-1', leader), []);
  });

  await t.test('systemctl stop wakegate leaves no machine, no scope, no process', async (t) => {
    const answer = await get(ports.http, STUBBORN).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    const stubborn = await leaderOf('wakegate-stubborn-2');
    const hello = await leaderOf('wakegate-hello-1');
    await machine.systemctl('stop', 'wakegate.service');
    t.equal(await machine.show('wakegate.service', 'Result'), 'success', 'not killed at TimeoutStopSec');
    t.same(await machines(), [], 'machinectl list is empty');
    t.equal(await scopes('machine-*.scope'), '', 'no machine scope');
    t.notOk(await alive(stubborn), 'stubborn\'s container is gone');
    t.notOk(await alive(hello), 'hello\'s container is gone');
    t.match(await journal(machine, 20), /shutdown complete/);
  });

  await t.test('the gateway and its nspawn killed at once: the next gateway ends the machine left behind', async (t) => {
    // The first request socket-activates a new gateway, whose numbering starts again.
    const answer = await get(ports.http, STUBBORN).catch(withJournal);
    t.equal(answer.status, 200, answer.body);
    const leader = await leaderOf('wakegate-stubborn-1');
    const before = await machine.show('wakegate.service', 'MainPID');
    // Every process of the unit, nspawn included, at once (a gateway killed alone dies first, and its
    // nspawn, on the parent-death SIGTERM, ends the container itself). The container, in machined's scope
    // and deaf to SIGTERM, outlives them until the gateway Restart=on-failure brings up cleans up.
    await machine.systemctl('kill', '--signal=SIGKILL', '--kill-who=all', 'wakegate.service');
    await until('a new gateway', () => machine.show('wakegate.service', 'MainPID'), (pid) => pid !== '0' && pid !== before).catch(withJournal);
    const left = await until('wakegate-stubborn-1', () => leftoversOf('wakegate-stubborn-1', leader), (l) => l.length === 0, 20_000).catch(withJournal);
    t.same(left, []);
    // The gateway's stdout reaches the journal a moment after it acted.
    const removed = /"instances":\["wakegate-stubborn-1"\],"msg":"removed 1 stale instances of a previous gateway"/;
    t.match(await until('the clean-up in the journal', () => journal(machine, 40), (j) => removed.test(j), 10_000), removed);
  });

  await t.test('a machine of the same name that is not the gateway\'s (another root) is left alone, at a failed start and at start-up', async (t) => {
    // Someone else's container, registered under the name the gateway's next hello instance gets.
    await machine.run(['sh', '-c', 'rm -rf /tmp/foreign && mkdir -p /tmp/foreign && cd /tmp/foreign && for l in bin sbin lib lib64; do ln -s usr/$l $l; done && mkdir usr etc proc dev sys tmp run var root']);
    await machine.run(['systemd-run', '--quiet', '--unit=foreign', 'systemd-nspawn', '--quiet', '--directory=/tmp/foreign', '--read-only', '--machine=wakegate-hello-1',
      '--register=yes', '--link-journal=no', '--private-network', '--console=pipe', '--bind-ro=/usr', '--bind-ro=/etc', '--', '/usr/bin/sleep', '600']);
    t.teardown(() => machine.systemctl('stop', 'foreign.service').then(() => undefined));
    await until('the foreign machine', machines, (m) => m.includes('wakegate-hello-1'), 20_000);
    const foreign = await leaderOf('wakegate-hello-1');
    const refused = await get(ports.http, HELLO).catch(withJournal);
    t.not(refused.status, 200, 'hello cannot register under a taken name');
    const lastExit = async (): Promise<unknown> => (JSON.parse((await get(ports.admin, `127.0.0.1:${ports.admin}`, '/apps/hello')).body) as { lastExit: unknown }).lastExit;
    await until('hello\'s failed start to end', lastExit, (exit) => exit !== null, 20_000).catch(withJournal);
    t.ok(await alive(foreign), 'the foreign container still runs after the failed start\'s exit');
    t.ok((await machines()).includes('wakegate-hello-1'), 'and is still registered');
    await machine.systemctl('restart', 'wakegate.service');
    t.ok(await alive(foreign), 'a new gateway\'s start-up clean-up leaves it too');
    t.ok((await machines()).includes('wakegate-hello-1'), 'still registered after the restart');
  });
});
