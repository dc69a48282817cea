import t, { type Test } from 'tap';
import { join } from 'node:path';
import { startGateway, until } from '../helpers/gateway.js';
import { boundOf, echo, echoApp, EventLog, listenLine, open, socketDir, type RuntimeName } from '../helpers/socket-mode.js';
import { missingTool } from '../helpers/tools.js';

const ociSkip = missingTool('runc', 'runc') || (process.getuid?.() !== 0 ? 'containers need root' : false);

for (const runtime of ['process', 'oci'] as const satisfies readonly RuntimeName[]) {
  t.test(`socket mode on the ${runtime} runtime`, { skip: runtime === 'oci' ? ociSkip : false }, async (t) => {
    const start = (t: Test, apps: Record<string, unknown>, events = new EventLog()) =>
      startGateway(t, apps, {}, { realRuntimes: runtime === 'oci', recorder: events }).then((gw) => ({ gw, events }));

    t.test('the first connection wakes a stopped app, data flows, and it is watched again after its idle stop', async (t) => {
      const { gw, events } = await start(t, { echo: echoApp(runtime, { listen: ['tcp:127.0.0.1:0'], idleTimeout: '300ms' }) });
      const app = gw.gateway.apps.get('echo')!;
      t.equal(app.state, 'stopped');
      t.same(app.spec.hosts, [], 'no hosts: reached only through its own socket');
      t.equal(gw.gateway.apps.socketPath('echo'), undefined, 'and it has no HTTP app socket');
      const bound = boundOf(gw, 'echo', 'tcp:127.0.0.1:0');
      t.ok(bound.kind === 'tcp' && bound.port > 0, 'port 0 is bound to a real port');
      t.equal(await echo(bound, 'ping\n'), 'ping\n');
      // Confirmed by the accept-queue poll, which may come a little after the echo.
      await until(() => app.state === 'running', 5000, 'running');
      t.equal(events.starts('echo'), 1);
      const cold = events.coldStarts.find((c) => c.app === 'echo')!;
      t.equal(cold.result, 'ok');
      t.type(cold.acceptMs, 'number', 'the cold start ends at the first accept (phase accept)');
      t.equal(cold.firstByteMs, undefined);
      await until(() => app.state === 'stopped', 10_000, 'idle stop');
      t.equal(events.exits.find((e) => e.app === 'echo')?.reason, 'idle');
      t.equal(await echo(bound, 'again\n'), 'again\n', 'the next connection wakes it again');
      t.equal(events.starts('echo'), 2);
    });

    t.test('activity samples: connections are kept for status, a busy one restarts the idle countdown', async (t) => {
      const { gw } = await start(t, { act: echoApp(runtime, { listen: ['127.0.0.1:0'], idleTimeout: '30s' }) });
      const app = gw.gateway.apps.get('act')!;
      app.activity({ connections: 3, busy: true });
      t.equal(app.connections, 0, 'ignored while stopped');
      const socket = await open(boundOf(gw, 'act', 'tcp:127.0.0.1:0'));
      t.teardown(() => socket.destroy());
      await until(() => app.state === 'running', 10_000, 'running');
      const first = app.idleDeadline!;
      t.type(first, 'number', 'the idle countdown runs: the socket holds no lease');
      await until(() => Date.now() > first - 30_000 + 20, 1000, 'time to pass');
      app.activity({ connections: 1, busy: false });
      t.equal(app.connections, 1);
      t.equal(app.idleDeadline, first, 'a quiet sample leaves the countdown alone');
      app.activity({ connections: 1, busy: true });
      t.ok(app.idleDeadline! > first, 'a busy sample restarts it from now');
      await app.stopInstance('stop');
      t.equal(app.connections, 0, 'no connections once stopped');
    });

    t.test('50 simultaneous first connections: exactly one start, 50 echoes', async (t) => {
      const { gw, events } = await start(t, { herd: echoApp(runtime, { listen: ['127.0.0.1:0'] }) });
      const bound = boundOf(gw, 'herd', 'tcp:127.0.0.1:0');
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => echo(bound, `hello ${i}\n`)));
      t.same(replies, Array.from({ length: 50 }, (_, i) => `hello ${i}\n`));
      t.equal(events.starts('herd'), 1, 'one start');
      t.same(events.exits, [], 'no instance ended');
    });

    t.test('every socket at fd 3.. with LISTEN_FDNAMES: the HTTP app socket first, then listen in config order', async (t) => {
      const dir = socketDir(t);
      const ctl = join(dir, 'ctl.sock');
      const { gw, events } = await start(t, {
        mix: echoApp(runtime, { hosts: ['mix.localhost'], listen: ['tcp:[::1]:0', { address: `unix:${ctl}`, name: 'ctl' }] }),
      });
      t.same(gw.gateway.apps.sockets('mix').map((s) => [s.address, s.name]), [['http', 'mix'], ['tcp:[::1]:0', 'mix'], [`unix:${ctl}`, 'ctl']]);
      t.equal(await echo({ kind: 'unix', path: ctl }, 'via ctl\n'), 'via ctl\n', 'a connection on the unix socket wakes the app');
      t.same(await listenLine(gw, 'mix'), { fds: '3', pid: 'self', names: 'mix:mix:ctl' });
      t.equal(await echo(boundOf(gw, 'mix', 'tcp:[::1]:0'), 'via tcp\n'), 'via tcp\n');
      // Another proxy may talk to the HTTP app socket directly: it is fd 3, served by the same instance.
      t.equal(await echo({ kind: 'unix', path: gw.gateway.apps.socketPath('mix')! }, 'via http socket\n'), 'via http socket\n');
      t.equal(events.starts('mix'), 1);
    });

    t.test('a connection to the HTTP app socket of a stopped app wakes it (bring your own L7)', async (t) => {
      const { gw, events } = await start(t, { web: echoApp(runtime, { hosts: ['web.localhost'] }) });
      t.equal(await echo({ kind: 'unix', path: gw.gateway.apps.socketPath('web')! }, 'raw\n'), 'raw\n');
      t.same(await listenLine(gw, 'web'), { fds: '1', pid: 'self', names: 'web' });
      t.equal(events.starts('web'), 1);
    });

    t.test('an instance that never accepts fails its start after startTimeout, and the waiting connection wakes it again', async (t) => {
      const { gw, events } = await start(t, { stuck: echoApp(runtime, { listen: ['127.0.0.1:0'], startTimeout: '400ms', env: { MODE: 'never-accept' } }) });
      const socket = await open(boundOf(gw, 'stuck', 'tcp:127.0.0.1:0'));
      t.teardown(() => socket.destroy());
      await until(() => events.coldStarts.filter((c) => c.app === 'stuck').length >= 2, 15_000, 'two failed starts');
      const [first, second] = events.coldStarts;
      t.equal(first?.result, 'timeout', 'a failure, not abandoned: the connection still waits');
      t.equal(second?.result, 'timeout', 're-armed after the stop, the queued connection woke the app again');
      t.equal(events.exits[0]?.reason, 'start_timeout');
      t.ok(events.starts('stuck') >= 2);
    });

    t.test('a crashing app: connections wait in the backlog during backoff, and the watch is armed again after it', async (t) => {
      const { gw, events } = await start(t, { crash: echoApp(runtime, { listen: ['127.0.0.1:0'], env: { MODE: 'exit' } }) });
      const app = gw.gateway.apps.get('crash')!;
      const socket = await open(boundOf(gw, 'crash', 'tcp:127.0.0.1:0'));
      t.teardown(() => socket.destroy());
      await until(() => events.exits.length >= 2, 15_000, 'two crashes');
      await until(() => app.state === 'stopped', 5000, 'stopped');
      t.ok(app.backoffRemainingMs > 0, 'in backoff after the second crash');
      const starts = events.starts('crash');
      await until(() => events.starts('crash') > starts, 10_000, 'a start after the backoff');
      t.ok(events.exits.every((e) => e.reason === 'crash'));
    });
  });
}
