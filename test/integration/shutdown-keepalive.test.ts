// A shutdown (or a restart under systemd) must not fail a kept-alive client: a request it sends after the
// SIGTERM is answered, with `Connection: close`, and an idle connection is closed only after a short grace.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { DEFAULTS } from '../../src/defaults.js';
import { fixtureApp } from '../helpers/gateway.js';
import { runGateway } from '../helpers/cli.js';

/** One HTTP/1.1 exchange on an open connection: the response head and body as text, once complete. */
function exchange(socket: Socket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer): void => {
      text += c.toString();
      const head = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (head >= 0 && length && text.length >= head + 4 + Number(length[1])) done(() => resolve(text));
    };
    const onError = (err: Error): void => done(() => reject(err));
    const onClose = (): void => done(() => reject(new Error(`connection closed under the request; got ${JSON.stringify(text)}`)));
    const done = (then: () => void): void => {
      socket.off('data', onData).off('error', onError).off('close', onClose);
      then();
    };
    socket.on('data', onData).on('error', onError).on('close', onClose);
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

t.test('SIGTERM: a kept-alive client gets its next request answered with Connection: close; an idle one is closed after the grace', async (t) => {
  const gw = await runGateway(t, { apps: { one: fixtureApp(['one.localhost']) } });
  const open = (): Promise<Socket> => new Promise((resolve, reject) => {
    const s = connect(gw.port, '127.0.0.1', () => resolve(s)).on('error', reject);
    t.teardown(() => void s.destroy());
  });
  const [active, idle] = [await open(), await open()];
  t.match(await exchange(active, 'one.localhost'), /^HTTP\/1\.1 200 [^]*connection: keep-alive/i, 'kept alive before the shutdown');
  t.match(await exchange(idle, 'one.localhost'), /^HTTP\/1\.1 200 /);
  const idleClosed = new Promise<number>((resolve) => idle.on('close', () => resolve(performance.now())));
  gw.child.kill('SIGTERM');
  await gw.waitFor((l) => l.msg === 'shutting down');
  const shutAt = performance.now();
  const answer = await exchange(active, 'one.localhost');
  t.match(answer, /^HTTP\/1\.1 200 /, 'the request sent after the SIGTERM is served');
  t.match(answer, /\r\nconnection: close\r\n/i, 'and tells the client the connection ends');
  const closedAt = await idleClosed;
  t.ok(closedAt - shutAt >= DEFAULTS.internal.keepAliveCloseGraceMs * 0.5, 'the idle connection was not cut at once');
  t.same(await gw.exited, { code: 0, signal: null });
});
