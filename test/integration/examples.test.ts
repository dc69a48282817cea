import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { captureLogger, fixtureApp, get, ROOT, startGateway } from '../helpers/gateway.js';
import { needTool } from '../helpers/tools.js';
import { boundOf, echo } from '../helpers/socket-mode.js';

t.test('the example apps (node and python) serve on fd 3 and stop cleanly on SIGTERM', async (t) => {
  if (!needTool(t, 'python3', 'python3')) return;
  const example = await loadConfig(join(ROOT, 'examples/wakegate.yaml'));
  const runtimeDir = mkdtempSync(join(tmpdir(), 'wg-examples-'));
  const anyPort = { kind: 'tcp' as const, host: '127.0.0.1', port: 0 };
  const config = { ...example, listen: { http: anyPort }, admin: example.admin && { ...example.admin, listen: anyPort }, runtimeDir };
  const { log, lines } = captureLogger();
  const gateway = await Gateway.start(config, { log });
  t.teardown(() => rmSync(runtimeDir, { recursive: true, force: true }));
  const port = gateway.address.kind === 'tcp' ? gateway.address.port : 0;
  const hello = await get(port, 'hello.localhost');
  t.equal(hello.status, 200);
  t.match(hello.body, /^hi from hello \(pid \d+\)/);
  const py = await get(port, 'py.localhost');
  t.equal(py.status, 200);
  t.match(py.body, /^hello from python \(pid \d+\)/);
  await gateway.shutdown();
  const exits = lines.filter((l) => l.reason === 'shutdown');
  t.same(exits.map((l) => [l.app, l.code, l.signal]).sort(), [['hello', 0, null], ['py', 0, null]], 'both exit 0 on SIGTERM, no SIGKILL needed');
});

t.test('app sockets are 0600 in a 0700 directory; upstream connections are kept alive', async (t) => {
  const gw = await startGateway(t, { keep: fixtureApp(['keep.localhost']) });
  const socket = gw.gateway.apps.socketPath('keep')!;
  t.equal(statSync(socket).mode & 0o777, 0o600, 'socket 0600');
  t.equal(statSync(join(socket, '..')).mode & 0o777, 0o700, 'directory 0700');
  let last = { connections: 0 };
  for (let i = 0; i < 5; i++) last = JSON.parse((await gw.get('keep.localhost')).body) as { connections: number };
  t.equal(last.connections, 1, 'five sequential requests over one upstream connection');
});

t.test('the socket-mode example (examples/echo) is woken by a TCP connection, echoes, and stops on SIGTERM', async (t) => {
  const gw = await startGateway(t, {
    echo: { listen: ['tcp:127.0.0.1:0', { address: 'tcp:[::1]:0', name: 'v6' }], command: [process.execPath, 'echo.mjs'], dir: join(ROOT, 'examples/echo'), runtime: 'process' },
  });
  t.equal(await echo(boundOf(gw, 'echo', 'tcp:127.0.0.1:0'), 'ping\n'), 'ping\n');
  t.equal(await echo(boundOf(gw, 'echo', 'tcp:[::1]:0'), 'pong\n'), 'pong\n', 'the second socket, same instance');
  t.equal(gw.runtime.starts, 1);
  await gw.gateway.shutdown();
  const exit = gw.lines.find((l) => l.app === 'echo' && l.reason === 'shutdown');
  t.same([exit?.code, exit?.signal], [0, null], 'exit 0 on SIGTERM, no SIGKILL needed');
});
