import t, { type Test } from 'tap';
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/schema.js';
import { alive, startGateway, type TestGateway } from '../helpers/gateway.js';
import { boundOf, echo, echoApp, EventLog, listenLine, open, socketDir, type RuntimeName } from '../helpers/socket-mode.js';
import { missingTool } from '../helpers/tools.js';

const ociSkip = missingTool('runc', 'runc') || (process.getuid?.() !== 0 ? 'containers need root' : false);

/** The config startGateway made, with other apps. */
function withApps(gw: TestGateway, apps: Record<string, unknown>) {
  return validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir: gw.config.runtimeDir, shutdownTimeout: '2s', apps }, gw.config.file);
}

/** A TCP port something else listens on, for the test's duration. */
async function takenPort(t: Test): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

for (const runtime of ['process', 'oci'] as const satisfies readonly RuntimeName[]) {
  t.test(`socket mode config on the ${runtime} runtime`, { skip: runtime === 'oci' ? ociSkip : false }, async (t) => {
    const start = (t: Test, apps: Record<string, unknown>, events = new EventLog()) =>
      startGateway(t, apps, {}, { realRuntimes: runtime === 'oci', recorder: events }).then((gw) => ({ gw, events }));

    t.test('reload: a kept address keeps its socket, a new one opens, a removed one closes once its instance stopped', async (t) => {
      const dir = socketDir(t);
      const [a, b] = [join(dir, 'a.sock'), join(dir, 'b.sock')];
      const { gw, events } = await start(t, { r: echoApp(runtime, { listen: ['127.0.0.1:0', `unix:${a}`] }) });
      const tcp = boundOf(gw, 'r', 'tcp:127.0.0.1:0');
      t.equal(await echo({ kind: 'unix', path: a }, 'one\n'), 'one\n');
      const result = await gw.gateway.reload(withApps(gw, { r: echoApp(runtime, { listen: ['127.0.0.1:0', { address: `unix:${b}`, name: 'bee' }] }) }));
      t.same(result && { changed: result.changed, refused: result.refused }, { changed: ['r'], refused: [] });
      t.same(gw.gateway.apps.sockets('r').map((s) => s.address), ['tcp:127.0.0.1:0', `unix:${b}`]);
      t.same(boundOf(gw, 'r', 'tcp:127.0.0.1:0'), tcp, 'the unchanged address is the same socket');
      t.ok(existsSync(b), 'the new socket is open at once');
      t.equal(await echo({ kind: 'unix', path: a }, 'still\n'), 'still\n', 'the running instance keeps the removed socket');
      await gw.gateway.apps.get('r')!.stopInstance('stop');
      t.notOk(existsSync(a), 'the removed socket is closed and its file removed once the instance stopped');
      const from = gw.lines.length;
      t.equal(await echo({ kind: 'unix', path: b }, 'two\n'), 'two\n', 'the new socket wakes the app');
      t.same(await listenLine(gw, 'r', from), { fds: '2', pid: 'self', names: 'r:bee' }, 'the next instance gets the new set');
      t.equal(await echo(tcp, 'tcp\n'), 'tcp\n');
      t.equal(events.starts('r'), 2);
    });

    t.test('bad sockets refuse only their app, at start and at reload; every other app serves', async (t) => {
      const port = await takenPort(t);
      const unsafe = join(socketDir(t), 'shared');
      mkdirSync(unsafe);
      chmodSync(unsafe, 0o777);
      const foreign = join(socketDir(t), 'foreign');
      mkdirSync(foreign);
      chownSync(foreign, 65534, 65534);
      const good = echoApp(runtime, { listen: ['127.0.0.1:0'] });
      const { gw, events } = await start(t, {
        taken: echoApp(runtime, { listen: [`127.0.0.1:${port}`] }),
        unsafe: echoApp(runtime, { listen: [`unix:${unsafe}/x.sock`] }),
        foreign: echoApp(runtime, { listen: ['127.0.0.1:0', `unix:${foreign}/x.sock`] }),
        good,
      });
      t.equal(gw.gateway.apps.get('taken'), undefined, 'the app on a taken port is not served');
      t.equal(gw.gateway.apps.get('unsafe'), undefined, 'nor the one in a directory others can write');
      const refusal = (app: string) => gw.lines.find((l) => l.level === 50 && l.app === app);
      t.match(refusal('taken'), { address: `tcp:127.0.0.1:${port}`, err: { code: 'WG_ERR_APP_SOCKET' }, msg: /app taken cannot listen on tcp:127\.0\.0\.1:\d+: address already in use/ });
      t.match(refusal('unsafe'), { address: `unix:${unsafe}/x.sock`, err: { code: 'WG_ERR_APP_SOCKET' }, msg: /is writable by group or others/ });
      t.equal(gw.gateway.apps.get('foreign'), undefined, 'nor the one in a directory of another uid');
      t.match(refusal('foreign'), { address: `unix:${foreign}/x.sock`, msg: /is owned by uid 65534, not by the gateway's uid 0/ });
      t.notOk(existsSync(join(unsafe, 'x.sock')) || existsSync(join(foreign, 'x.sock')), 'nothing left behind');
      const bound = boundOf(gw, 'good', 'tcp:127.0.0.1:0');
      t.equal(await echo(bound, 'ok\n'), 'ok\n', 'the good app serves');
      const pid = gw.gateway.apps.get('good')!.instance!.pid;
      const result = await gw.gateway.reload(withApps(gw, { good, late: echoApp(runtime, { listen: [`127.0.0.1:${port}`] }) }));
      t.same(result && { added: result.added, refused: result.refused }, { added: [], refused: ['late'] });
      t.match(refusal('late'), { address: `tcp:127.0.0.1:${port}` });
      t.equal(gw.gateway.apps.get('good')!.instance?.pid, pid, 'the good app kept its instance');
      t.equal(await echo(bound, 'still ok\n'), 'still ok\n');
      const changed = await gw.gateway.reload(withApps(gw, { good: echoApp(runtime, { listen: [`127.0.0.1:${port}`] }) }));
      t.same(changed?.refused, ['good'], 'a change to a taken address is refused');
      t.same(gw.gateway.apps.sockets('good').map((s) => s.bound), [bound], 'and the app keeps its previous sockets');
      t.equal(events.starts('good'), 1);
    });

    t.test('shutdown stops the instance and leaves no socket behind', async (t) => {
      const dir = socketDir(t);
      const path = join(dir, 'ctl.sock');
      const { gw } = await start(t, { s: echoApp(runtime, { hosts: ['s.localhost'], listen: ['127.0.0.1:0', `unix:${path}`] }) });
      const tcp = boundOf(gw, 's', 'tcp:127.0.0.1:0');
      const http = gw.gateway.apps.socketPath('s')!;
      t.equal(await echo(tcp, 'x\n'), 'x\n');
      const pid = gw.gateway.apps.get('s')!.instance!.pid;
      await gw.gateway.shutdown();
      t.notOk(alive(pid), 'the instance is gone');
      t.notOk(existsSync(path), 'the unix listen socket is removed');
      t.notOk(existsSync(http), 'the HTTP app socket is removed');
      await t.rejects(open(tcp), { code: 'ECONNREFUSED' }, 'the TCP socket is closed');
    });
  });
}
