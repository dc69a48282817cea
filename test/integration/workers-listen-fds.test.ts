// workers: 2 on a front socket passed by the service manager (systemd-socket-activate, as a socket unit
// does): the workers accept on the passed socket itself, so a connection queued before the gateway ran is
// served by one of them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { configDoc } from '../helpers/cli.js';
import { get } from '../helpers/gateway.js';
import { freePort } from '../helpers/prometheus.js';
import { activate, activated } from '../helpers/socket-activate.js';
import { needTool } from '../helpers/tools.js';
import { app, bothServe, HOST } from '../helpers/workers.js';

t.test('the passed front socket is the one the workers accept on', async (t) => {
  if (!needTool(t, 'systemd-socket-activate', 'systemd')) return;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wg-workers-fds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'wakegate.json');
  writeFileSync(file, JSON.stringify(configDoc(join(dir, 'run'), { listen: { http: `127.0.0.1:${port}` }, workers: 2, log: { requests: true }, apps: { a: app() } })));
  const gw = await activated(t, file, activate([`127.0.0.1:${port}`], ['http']), 1);
  // Made before the gateway runs: it waits in the passed socket's queue, and starts the gateway.
  const first = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  t.match(first, /^HTTP\/1\.1 200 /, 'the queued connection is answered by a worker');
  t.match(await gw.waitFor((l) => l.msg === 'wakegate listening'), { address: { port }, workers: 2 });
  t.same(gw.lines.filter((l) => l.msg === 'worker listening').map((l) => (l.address as { port: number }).port), [port, port], 'both workers on the passed socket');
  await bothServe(t, { get: (path = '/', host = HOST) => get(port, host, path), lines: gw.lines, waitFor: gw.waitFor });
});
