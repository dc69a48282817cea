// What the gateway takes from its environment under systemd, and that it leaves nothing behind for children.
import t from 'tap';
import { pino } from 'pino';
import { systemdService } from '../../src/systemd/systemd-service.js';
import { takeListenFds } from '../../src/systemd/listen-fds.js';
import { statusLine } from '../../src/systemd/heartbeat.js';

const log = pino({ level: 'silent' });

t.test('LISTEN_* for another pid are not ours: no sockets, and the variables are unset all the same', async (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '2', LISTEN_FDNAMES: 'http:admin', KEEP: 'x' };
  t.same(takeListenFds(env, 4242), []);
  t.same(env, { KEEP: 'x' });
});

t.test('malformed variables are a typed error, and are unset too', async (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '4242', LISTEN_FDS: 'three' };
  t.throws(() => takeListenFds(env, 4242), { code: 'WG_ERR_INHERITED_SOCKET', problem: 'environment', fd: -1 });
  t.same(env, {});
  t.throws(() => takeListenFds({ LISTEN_PID: 'me', LISTEN_FDS: '1' }, 4242), { code: 'WG_ERR_INHERITED_SOCKET', problem: 'environment' });
});

t.test('no NOTIFY_SOCKET: the null notifier; the watchdog only for our own pid', async (t) => {
  const none = systemdService({}, log, 4242);
  t.equal(none.notifier.active, false);
  t.equal(none.watchdogMs, undefined);
  t.same(none.inherited, []);
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '@wg-test', WATCHDOG_USEC: '3000000', WATCHDOG_PID: '4242' };
  const ours = systemdService(env, log, 4242);
  t.equal(ours.notifier.active, true);
  t.equal(ours.watchdogMs, 1500, 'half of WATCHDOG_USEC');
  t.same(env, {}, 'unset, so that nothing the gateway starts talks to systemd in its name');
  t.equal(systemdService({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '3000000', WATCHDOG_PID: '1' }, log, 4242).watchdogMs, undefined, "another process's watchdog");
  t.equal(systemdService({ NOTIFY_SOCKET: 'relative' }, log, 4242).notifier.active, false, 'not a socket address');
});

t.test('the STATUS line', async (t) => {
  t.equal(statusLine(['running', 'starting', 'stopped', 'running']), '4 apps, 2 running, 1 starting');
  t.equal(statusLine(['stopped']), '1 app, 0 running, 0 starting');
  t.equal(statusLine(['frozen', 'running', 'frozen']), '3 apps, 1 running, 0 starting, 2 frozen', 'frozen apps are named only when any is');
});
