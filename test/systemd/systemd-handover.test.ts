// Tenants on `runtime: systemd` outlive the gateway: `systemctl restart wakegate` (and a crash) hands the
// running instances to the next gateway, which adopts them from their scopes and serves them with no
// cold start; `systemctl stop` still stops them. Under a real systemd 252 (test/helpers/systemd-machine.ts),
// one machine for the file, the subtests in order, each from the state the previous one left.
import t, { type Test } from 'tap';
import { MACHINE_TOOLS } from '../helpers/systemd-machine.js';
import { echo, bootWithWakegate, get, journal, mainPid, restartUnderLoad, until, wakegateConfig } from '../helpers/systemd-wakegate.js';
import { missingTools } from '../helpers/tools.js';

const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting a machine needs root');
const HELLO = 'hello.localhost';

interface AppView { name: string; state: string; runtime: string; instance: { id: string; pid: number } | null }

t.test('systemd tenants across gateway restarts', { skip }, async (t) => {
  const { machine, ports } = await bootWithWakegate(t, { config: { runtime: 'systemd' } });
  await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
  const withJournal = async (err: Error): Promise<never> => {
    throw new Error(`${err.message}\njournal:\n${await journal(machine, 120)}`);
  };
  const apps = async (): Promise<Map<string, AppView>> => {
    const list = JSON.parse((await get(ports.admin, `127.0.0.1:${ports.admin}`, '/apps').catch(withJournal)).body) as AppView[];
    return new Map(list.map((a) => [a.name, a]));
  };
  /** The gateway's journal since its current process started (this invocation only). */
  const thisGateway = async (): Promise<string> => {
    const invocation = await machine.show('wakegate.service', 'InvocationID');
    return (await machine.run(['journalctl', '--no-pager', '-o', 'cat', `_SYSTEMD_INVOCATION_ID=${invocation}`], { allowFailure: true })).stdout;
  };
  const coldStarts = async (): Promise<number> => {
    const text = (await get(ports.admin, `127.0.0.1:${ports.admin}`, '/metrics')).body;
    return [...text.matchAll(/^wakegate_cold_starts_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  };
  let hello = { id: '', pid: 0 };
  let echoed = { id: '', pid: 0 };
  let serving = false;
  const needServing = (t: Test): boolean => {
    t.ok(serving, 'both tenants ran on systemd (an earlier subtest)');
    return serving;
  };

  await t.test('systemctl restart under load: 0 errors, 0 cold starts, the same tenant pids answer after', async (t) => {
    const first = await get(ports.http, HELLO).catch(withJournal);
    t.equal(first.status, 200, first.body);
    t.equal(await echo(ports.echo, 'ping\n'), 'ping\n');
    const before = await apps();
    hello = before.get('hello')?.instance ?? hello;
    echoed = before.get('echo')?.instance ?? echoed;
    t.equal(hello.id, 'wakegate-hello-1');
    t.equal(echoed.id, 'wakegate-echo-1');
    const gateway = await mainPid(machine);
    await restartUnderLoad(t, machine, ports, 'restart with tenants on systemd');
    t.not(await mainPid(machine), gateway, 'a new gateway process');
    const after = await apps();
    t.same(after.get('hello')?.instance, hello, 'the same hello instance, adopted');
    t.equal(after.get('hello')?.state, 'running');
    t.same(after.get('echo')?.instance, echoed, 'the same echo instance, adopted');
    t.match((await get(ports.http, HELLO)).body, `(pid ${hello.pid})`, 'answered by the pid that answered before');
    t.equal(await echo(ports.echo, 'again\n'), 'again\n', 'the socket-mode tenant still serves its socket');
    t.equal(await coldStarts(), 0, 'the new gateway made no cold start');
    const logged = await thisGateway();
    t.match(logged, /adopted instance wakegate-hello-1 of a previous gateway/);
    t.match(logged, /adopted instance wakegate-echo-1 of a previous gateway/);
    t.match(await journal(machine, 200), /restarting: 2 instances left running for the next gateway to adopt/);
    serving = after.get('hello')?.instance?.pid === hello.pid;
  });

  await t.test('a gateway killed outright is started again by Restart=on-failure and adopts the tenants', async (t) => {
    if (!needServing(t)) return;
    const gateway = await mainPid(machine);
    await machine.systemctl('kill', '--kill-who=main', '--signal=SIGKILL', 'wakegate.service');
    await until('a new gateway', () => mainPid(machine), (pid) => pid !== 0 && pid !== gateway, 20_000).catch(withJournal);
    // Held in wakegate.socket's backlog while no gateway runs.
    const answer = await get(ports.http, HELLO).catch(withJournal);
    t.match(answer.body, `(pid ${hello.pid})`, 'the tenant outlived the gateway and serves again');
    t.same((await apps()).get('hello')?.instance, hello);
    t.equal(await coldStarts(), 0, 'no cold start');
  });

  await t.test('workers: 2 — restarts under load into and with two front workers: 0 errors, the tenants adopted', async (t) => {
    if (!needServing(t)) return;
    machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, { runtime: 'systemd', workers: 2 }));
    await restartUnderLoad(t, machine, ports, 'restart from 1 worker into 2');
    t.match(await thisGateway(), /worker ready[\s\S]*worker ready/, 'the new gateway runs two workers');
    await restartUnderLoad(t, machine, ports, 'restart with 2 workers into 2');
    const logged = await thisGateway();
    t.equal((logged.match(/worker ready/g) ?? []).length, 2, 'two workers again in the newest gateway');
    t.match(logged, /adopted instance wakegate-hello-1 of a previous gateway/);
    t.match((await get(ports.http, HELLO)).body, `(pid ${hello.pid})`, 'the same tenant still answers');
    t.equal(await echo(ports.echo, 'workers\n'), 'workers\n', 'and the socket-mode one');
    t.equal(await coldStarts(), 0, 'no cold start across either restart');
  });

  await t.test('a restart into a config without echo and with hello changed: both old instances are stopped', async (t) => {
    if (!needServing(t)) return;
    machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, { runtime: 'systemd', withoutEcho: true, greeting: 'hi' }));
    await machine.systemctl('restart', 'wakegate.service');
    const answer = await get(ports.http, HELLO).catch(withJournal);
    t.match(answer.body, /^hi from hello/, 'the new spec serves');
    t.notMatch(answer.body, `(pid ${hello.pid})`, 'from a new instance');
    const logged = await thisGateway();
    t.match(logged, /stopping instance wakegate-echo-1 of a previous gateway: no app of that name is configured/);
    t.match(logged, /stopping instance wakegate-hello-1 of a previous gateway: the config of app hello changed since it started/);
    t.same((await apps()).get('hello')?.instance?.id, 'wakegate-hello-2', 'numbering goes on above the adopted ids');
    const units = (await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-*.scope')).trim();
    t.match(units, /^wakegate-hello-2\.scope /, 'only the new scope is loaded');
    t.equal(units.split('\n').length, 1, units);
  });

  await t.test('a restart into a config with hello on runtime process: the new gateway stops the old scope', async (t) => {
    if (!needServing(t)) return;
    machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, { runtime: 'process', withoutEcho: true }));
    await machine.systemctl('restart', 'wakegate.service');
    t.match(await thisGateway(), /stopping instance wakegate-hello-2 of a previous gateway: app hello runs on process now/, 'found with no app on runtime systemd');
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-*.scope')).trim(), '', 'no scope left');
    const answer = await get(ports.http, HELLO).catch(withJournal);
    t.equal(answer.status, 200, 'hello serves, now as a process');
    t.equal((await apps()).get('hello')?.runtime, 'process');
  });

  await t.test('systemctl stop stops the tenants and leaves no scope', async (t) => {
    machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, { runtime: 'systemd', withoutEcho: true }));
    await machine.systemctl('restart', 'wakegate.service');
    t.equal((await get(ports.http, HELLO).catch(withJournal)).status, 200);
    t.equal((await apps()).get('hello')?.runtime, 'systemd');
    await machine.systemctl('stop', 'wakegate.service');
    t.equal(await machine.show('wakegate.service', 'Result'), 'success');
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', 'wakegate-*.scope')).trim(), '', 'no scope left');
  });

  await t.test('the machine powers off and leaves nothing on the host', async (t) => {
    await machine.shutdown();
    t.same(machine.leftovers(), []);
  });
});
