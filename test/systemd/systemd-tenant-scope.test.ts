// `runtime: systemd` tenants depend on the gateway for nothing once they run, under a real systemd 252 (a
// machine booted with systemd-nspawn, see test/helpers/systemd-machine.ts): nothing of the app runs
// outside its scope (it is held before execve until the scope has it), its output is in the journal
// under its scope, and it survives the gateway's death (no parent-death signal). One machine for the
// file; the subtests run in order, and the last one kills the gateway.
import t from 'tap';
import { MACHINE_TOOLS } from '../helpers/systemd-machine.js';
import { bootWithWakegate, configHead, get, journal, mainPid, until, type Ports } from '../helpers/systemd-wakegate.js';
import { missingTools } from '../helpers/tools.js';

const skip = missingTools(MACHINE_TOOLS) || (process.getuid?.() !== 0 && 'booting a machine needs root');
const HOST = 'forker.localhost';
const UNIT = 'wakegate-forker-1.scope';
const SCOPE_CGROUP = `0::/wakegate.slice/${UNIT}`;
const GRANDCHILD_PID_FILE = '/run/forker-grandchild.pid';

/**
 * An app that forks at once, before anything else (a shell is running within a millisecond of its
 * execve, long before a scope placed after the exec would have it), says a line on stdout and one on
 * stderr, then becomes the hello example (same pid: LISTEN_PID holds).
 */
const START_SH = `sleep 600 &
echo $! > ${GRANDCHILD_PID_FILE}
echo "forker says hello on stdout"
echo "forker says hello on stderr" >&2
exec node /opt/wakegate/examples/hello/server.mjs
`;

function config(ports: Ports): string {
  return `${configHead(ports, 'systemd')}apps:
  forker:
    hosts: ["${HOST}"]
    command: ["sh", "start.sh"]
    dir: /srv/forker
`;
}

function pidOf(body: string): number {
  return Number(/\(pid (\d+)\)/.exec(body)?.[1] ?? NaN);
}

interface JournalEntry { readonly MESSAGE?: string; readonly PRIORITY?: string; readonly SYSLOG_IDENTIFIER?: string; readonly _SYSTEMD_UNIT?: string }

t.test('runtime systemd: a tenant independent of the gateway, under systemd 252', { skip }, async (t) => {
  const { machine, ports } = await bootWithWakegate(t);
  machine.writeFile('/srv/forker/start.sh', START_SH);
  machine.writeFile('/etc/wakegate/wakegate.yaml', config(ports));
  await machine.systemctl('start', 'wakegate.socket', 'wakegate-admin.socket');
  const withJournal = async (err: Error): Promise<never> => { throw new Error(`${err.message}\njournal:\n${await journal(machine)}`); };
  const cgroupOf = async (pid: number): Promise<string | undefined> =>
    (await machine.run(['cat', `/proc/${pid}/cgroup`])).stdout.split('\n').find((l) => l.startsWith('0::'));

  const answer = await get(ports.http, HOST).catch(withJournal);
  const tenantPid = pidOf(answer.body);
  const grandchildPid = Number((await machine.run(['cat', GRANDCHILD_PID_FILE])).stdout.trim());

  await t.test('what the app forked before anything else is in its scope with it: it ran only once placed', async (t) => {
    t.equal(answer.status, 200, answer.body);
    t.ok(grandchildPid > 0, `the app forked ${grandchildPid}`);
    t.equal(await cgroupOf(tenantPid), SCOPE_CGROUP, 'the main process is in the scope');
    t.equal(await cgroupOf(grandchildPid), SCOPE_CGROUP, 'so is the child it forked at once');
    const status = (await machine.run(['systemctl', 'status', '--no-pager', '--lines=0', UNIT], { allowFailure: true })).stdout;
    t.match(status, new RegExp(`${grandchildPid} sleep 600`), `systemctl status lists it: ${status}`);
  });

  await t.test('its stdout and stderr are in the journal under its scope, as SYSLOG_IDENTIFIER forker, at info and err', async (t) => {
    const read = async (): Promise<JournalEntry[]> => (await machine.run(['journalctl', '--no-pager', '-o', 'json', '-u', UNIT], { allowFailure: true })).stdout
      .split('\n').filter(Boolean).map((line) => JSON.parse(line) as JournalEntry);
    // journald files lines as it reads its streams: there is no event for "written", so wait for it.
    const entries = await until(`journal of ${UNIT}`, read, (all) => all.filter((e) => e.SYSLOG_IDENTIFIER === 'forker').length >= 2, 10_000).catch(withJournal);
    const line = (text: string) => entries.find((e) => e.MESSAGE === text);
    t.match(line('forker says hello on stdout'), { PRIORITY: '6', SYSLOG_IDENTIFIER: 'forker', _SYSTEMD_UNIT: UNIT });
    t.match(line('forker says hello on stderr'), { PRIORITY: '3', SYSLOG_IDENTIFIER: 'forker', _SYSTEMD_UNIT: UNIT });
    t.notMatch(await journal(machine, 200), /forker says hello/, 'none of it went through the gateway\'s log');
  });

  await t.test('the gateway killed with SIGKILL: the tenant goes on running in its scope, and serving', async (t) => {
    const gateway = await mainPid(machine);
    t.ok(gateway > 0, 'the gateway runs');
    await machine.systemctl('kill', '--kill-who=main', '--signal=SIGKILL', 'wakegate.service');
    await until('the killed gateway reaped', async () => (await machine.run(['test', '-e', `/proc/${gateway}`], { allowFailure: true })).code, (code) => code !== 0, 10_000);
    t.equal(await machine.show(UNIT, 'ActiveState'), 'active', 'the scope is still active');
    // Straight to the tenant on its app socket (which outlives the gateway in systemd's fd store): an
    // answer is the tenant alive and accepting, without any gateway between.
    const direct = await machine.run(['node', '-e', `require('node:http').get({ socketPath: '/run/wakegate/apps/forker.sock', headers: { host: '${HOST}' }, timeout: 10000 }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => process.stdout.write(b)); }).on('timeout', () => process.exit(3));`], { allowFailure: true, timeoutMs: 20_000 });
    t.equal(direct.code, 0, `a direct request answered: ${direct.stderr}`);
    t.equal(pidOf(direct.stdout), tenantPid, 'by the same tenant');
    t.equal(await cgroupOf(tenantPid), SCOPE_CGROUP, 'still in its scope');
    await machine.systemctl('stop', UNIT);
    t.equal((await machine.systemctl('list-units', '--all', '--plain', '--no-legend', UNIT)).trim(), '', 'stopped by systemctl, the scope is gone');
  });
});
