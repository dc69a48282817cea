// wakegate under a real systemd (252, PID 1 of a machine booted with systemd-nspawn, see
// test/helpers/systemd-machine.ts), installed from units/ as the README says. One machine is booted for
// this whole file and the subtests run in order against it, each starting from the state the previous one
// left (tap runs files in parallel, subtests of one file in sequence): a boot costs about a second, and a
// machine per subtest would only repeat it, while one machine shared across files would need a lock.
import t, { type Test } from 'tap';
import { report, RestartLoad, untilAnswered } from '../helpers/restart-load.js';
import { MACHINE_TOOLS } from '../helpers/systemd-machine.js';
import { echo, bootWithWakegate, get, journal, mainPid, restartUnderLoad, until, wakegateConfig } from '../helpers/systemd-wakegate.js';
import { missingTools } from '../helpers/tools.js';

const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting a machine needs root');
const HELLO = 'hello.localhost';

t.test('wakegate under systemd 252', { skip }, async (t) => {
  // A short watchdog, so that the wedged-gateway subtest waits seconds rather than the shipped 10 s.
  const { machine, ports } = await bootWithWakegate(t, { watchdogSec: 3 });
  const diagnose = async (): Promise<string> => `journal:\n${await journal(machine)}`;
  // Each subtest starts from the state the ones before left; once the gateway does not serve, the rest
  // fail at once (visibly, not skipped) rather than each waiting out its bounds.
  let serving = false;
  const needServing = (t: Test): boolean => {
    t.ok(serving, 'the socket-activated gateway served (an earlier subtest)');
    return serving;
  };

  await t.test('systemd-analyze verify of the installed units is clean, /opt/wakegate bound', async (t) => {
    const files = ['wakegate.service', 'wakegate.socket', 'wakegate-admin.socket'].map((u) => `/etc/systemd/system/${u}`);
    const result = await machine.run(['systemd-analyze', 'verify', ...files], { allowFailure: true });
    t.equal(result.stdout + result.stderr, '', 'no message');
    t.equal(result.code, 0);
  });

  await t.test('the first connection to wakegate.socket starts the gateway, and is answered', async (t) => {
    await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
    t.equal(await machine.show('wakegate.service', 'ActiveState'), 'inactive', 'nothing started the gateway yet');
    const answer = await get(ports.http, HELLO).catch(async (err: Error) => { throw new Error(`${err.message}\n${await diagnose()}`); });
    t.equal(answer.status, 200, answer.body);
    t.match(answer.body, /^hello from hello/);
    t.equal(await machine.show('wakegate.service', 'ActiveState'), 'active');
    t.equal(await machine.show('wakegate.service', 'TriggeredBy').then((s) => s.split(' ').sort().join(' ')), 'wakegate-admin.socket wakegate.socket');
    t.equal(await echo(ports.echo, 'ping\n'), 'ping\n', 'the socket-mode app answers on its own port');
    const status = await get(ports.admin, `127.0.0.1:${ports.admin}`, '/healthz');
    t.equal(status.status, 200, 'the admin listener, passed by wakegate-admin.socket, answers');
    serving = answer.status === 200;
  });

  await t.test('the fd store holds one entry per app socket', async (t) => {
    if (!needServing(t)) return;
    // hello's HTTP app socket and echo's listen socket; the front and admin came from socket units.
    const stored = await until('NFileDescriptorStore', () => machine.show('wakegate.service', 'NFileDescriptorStore'), (n) => n === '2', 10_000)
      .catch(async (err: Error) => { throw new Error(`${err.message}\n${await diagnose()}`); });
    t.equal(stored, '2');
  });

  await t.test('systemctl restart, three times under load: 0 refused, 0 failed', async (t) => {
    if (!needServing(t)) return;
    const load = new RestartLoad({ port: ports.http, hostHeader: HELLO, newConnectionClients: 2, keepAliveClients: 2, intervalMs: 5 });
    const pids = [await mainPid(machine)];
    try {
      await untilAnswered(load, 20);
      for (let i = 0; i < 3; i++) {
        await machine.systemctl('restart', 'wakegate.service');
        pids.push(await mainPid(machine));
        // Load before, during and after each restart: the new gateway must answer before the next one.
        await untilAnswered(load, 50);
      }
    } finally {
      const tally = await load.stop();
      report(t, 'restart ×3', tally);
      t.equal(tally.refused, 0, 'no connection refused');
      t.equal(tally.failed, 0, `no request failed ${JSON.stringify(tally.failures)}`);
    }
    t.equal(new Set(pids).size, 4, `four gateway processes, one per restart (${pids.join(', ')})`);
    t.equal(await machine.show('wakegate.service', 'NFileDescriptorStore'), '2', 'the fd store survived the restarts');
    t.equal(await echo(ports.echo, 'again\n'), 'again\n', 'the socket-mode app, from the stored socket');
  });

  await t.test('systemctl reload under load: 0 failed', async (t) => {
    if (!needServing(t)) return;
    const load = new RestartLoad({ port: ports.http, hostHeader: HELLO, newConnectionClients: 2, keepAliveClients: 2, intervalMs: 5 });
    const pid = await mainPid(machine);
    try {
      await untilAnswered(load, 20);
      await machine.systemctl('reload', 'wakegate.service');
      // 252's reload job ends when kill has sent SIGHUP; the gateway's READY=1 after it is not awaited by
      // systemd, so the load goes on for a while after.
      await untilAnswered(load, 100);
    } finally {
      const tally = await load.stop();
      report(t, 'reload', tally);
      t.equal(tally.refused, 0);
      t.equal(tally.failed, 0, `no request failed ${JSON.stringify(tally.failures)}`);
    }
    t.equal(await mainPid(machine), pid, 'the same gateway process');
  });

  await t.test('a reload that removes an app takes its socket out of the fd store', async (t) => {
    if (!needServing(t)) return;
    machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, { withoutEcho: true }));
    await machine.systemctl('reload', 'wakegate.service');
    const stored = await until('NFileDescriptorStore', () => machine.show('wakegate.service', 'NFileDescriptorStore'), (n) => n === '1', 20_000)
      .catch(async (err: Error) => { throw new Error(`${err.message}\n${await diagnose()}`); });
    t.equal(stored, '1', 'one entry less');
    await machine.systemctl('restart', 'wakegate.service');
    t.equal(await machine.show('wakegate.service', 'NFileDescriptorStore'), '1', 'and the restarted gateway does not store it again');
    await t.rejects(echo(ports.echo, 'gone\n', 5000), { code: 'ECONNREFUSED' }, 'the removed app socket is closed for good');
    t.equal((await get(ports.http, HELLO)).status, 200);
  });

  await t.test('a wedged gateway (SIGSTOP) is restarted by the watchdog; its queued connections are served', async (t) => {
    if (!needServing(t)) return;
    const pid = await mainPid(machine);
    // MainPID 0 would make `kill -STOP 0` a signal to kill's own process group.
    if (!t.ok(pid > 1, `a gateway to wedge (MainPID ${pid})`)) return;
    const restarts = Number(await machine.show('wakegate.service', 'NRestarts'));
    await machine.run(['kill', '-STOP', String(pid)]);
    // Sent while the gateway is stopped: they wait in the kernel's queue of the front socket, which
    // wakegate.socket holds across the kill and the restart.
    const queued = await Promise.all(Array.from({ length: 5 }, () => get(ports.http, HELLO, '/', 60_000).catch((err: Error) => ({ status: 0, body: err.message }))));
    t.same(queued.map((a) => a.status), [200, 200, 200, 200, 200], JSON.stringify(queued));
    const after = await mainPid(machine);
    t.not(after, pid, 'a new gateway process');
    t.equal(Number(await machine.show('wakegate.service', 'NRestarts')), restarts + 1, 'restarted once, by Restart=on-failure');
    const log = (await machine.run(['journalctl', '--no-pager', '-o', 'cat', '-u', 'wakegate.service'])).stdout;
    t.match(log, /[Ww]atchdog timeout/, 'systemd says the watchdog fired');
  });

  await t.test('oci runtime: restarted under load into a config of runc containers, 0 refused, 0 failed', async (t) => {
    if (!needServing(t)) return;
    machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, { withoutEcho: true, runtime: 'oci' }));
    // The old gateway stops its process instance; the new one cold-starts hello in a container.
    await restartUnderLoad(t, machine, ports, 'restart into oci');
    const answer = await get(ports.http, HELLO);
    t.match(answer.body, /\(pid 1\)/, `served from a container, its app PID 1 of its own pid namespace: ${answer.body}`);
  });

  await t.test('systemctl stop leaves no tenant process and no tenant cgroup', async (t) => {
    if (!needServing(t)) return;
    t.equal((await get(ports.http, HELLO)).status, 200, 'hello runs');
    const unitCgroup = await machine.show('wakegate.service', 'ControlGroup');
    const tenant = (await machine.run(['pgrep', '-f', 'server\\.mjs'])).stdout.trim().split('\n');
    t.equal(tenant.length, 1, `one tenant process runs (${tenant.join(', ')})`);
    const cgroup = (await machine.run(['cat', `/proc/${tenant[0]}/cgroup`])).stdout;
    const own = /^0::(.*)$/m.exec(cgroup)?.[1] ?? '';
    t.ok(own.startsWith(`${unitCgroup}/`), `the tenant's cgroup ${own} is inside the service's ${unitCgroup}`);
    await machine.systemctl('stop', 'wakegate.service', 'wakegate.socket', 'wakegate-admin.socket');
    t.notMatch((await machine.run(['ps', '-eo', 'args'])).stdout, /server\.mjs|echo\.mjs|cli\.js run/, 'no tenant and no gateway process');
    const left = await machine.run(['test', '-e', `/sys/fs/cgroup${unitCgroup}`], { allowFailure: true });
    t.not(left.code, 0, 'the service cgroup, with every tenant cgroup in it, is gone');
    t.equal(await machine.show('wakegate.service', 'NFileDescriptorStore'), '0', 'a stop empties the fd store');
  });

  await t.test('the machine powers off and leaves nothing on the host', async (t) => {
    await machine.shutdown();
    t.same(machine.leftovers(), []);
  });
});
