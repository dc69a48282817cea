import t from 'tap';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { FIXTURE_APP } from '../helpers/gateway.js';
import { boundPort, RUNTIME_CASES, SOCKET_FIXTURES, socketApp, startSocketGateway, type SocketGateway } from '../helpers/socket-servers.js';

/**
 * Idle stop from outside the data path, with real servers: the gateway never sees a byte, so it reads the
 * kernel's counters of the app's connections. A connection that moves bytes keeps the instance up however
 * long it lasts; once it closes, the instance is stopped after idleTimeout.
 */

const IDLE = 1000;
/** Short enough that several samples fall inside one idleTimeout. */
const top = { sampleInterval: '200ms' };

/** Byte `i` of the download fixture (test/fixtures/socket/download.mjs): the expected body, computed here. */
const patternByte = (i: number): number => (i * 131 + (i >>> 8) * 7 + 3) & 0xff;

function expectedDownload(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = patternByte(i);
  return out;
}

function download(port: number, bytes: number, ms: number): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/?bytes=${bytes}&ms=${ms}`, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      // An instance stopped mid-transfer closes the connection early: fail at once rather than hang.
      res.on('close', () => res.complete || reject(new Error(`the download was cut after ${Buffer.concat(chunks).length} of ${bytes} bytes`)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `text` and resolves with the echo of that many bytes; rejects if the connection ends first (the instance was stopped). */
function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Closed between two rounds: its 'end' and 'close' are gone already.
    if (socket.destroyed || socket.readableEnded) return reject(new Error('the connection was closed before this round'));
    let got = '';
    const cut = (): void => (done(), reject(new Error(`the connection was closed with ${got.length} of ${text.length} bytes echoed`)));
    const fail = (err: Error): void => (done(), reject(err));
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length < text.length) return;
      done();
      resolve(got);
    };
    const done = (): void => void socket.off('data', onData).off('error', fail).off('end', cut).off('close', cut);
    socket.on('data', onData).once('error', fail).once('end', cut).once('close', cut);
    socket.write(text);
  });
}

/** Exits of `app`'s instances so far, with their reasons. */
const exitsOf = (gw: SocketGateway, app: string): string[] => gw.events.exits.filter((e) => e.app === app).map((e) => e.reason);

const pause = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

for (const rc of RUNTIME_CASES) {
  t.test(`${rc.runtime} runtime`, { skip: rc.skip }, async (t) => {
    t.test('a TCP echo server on fd 3: the first connection wakes it, data flows, and it is idle-stopped after the connection closes', { timeout: 60_000 }, async (t) => {
      const gw = await startSocketGateway(t, { echo: socketApp(rc, ['tcp:127.0.0.1:0'], [rc.node, 'echo.mjs'], FIXTURE_APP, { idleTimeout: `${IDLE}ms` }) }, top);
      const port = boundPort(gw, 'echo', 'tcp:127.0.0.1:0');
      t.equal(gw.events.starts('echo'), 0, 'nothing runs before the first connection');

      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      t.equal(await echo(socket, 'wake up\n'), 'wake up\n', 'the connection that woke it is echoed');
      t.equal(gw.events.starts('echo'), 1, 'one start');
      const instance = gw.gateway.apps.get('echo')!.instance!;

      // Traffic for twice idleTimeout: it moves bytes, so it must not be cut.
      const until = Date.now() + 2 * IDLE;
      let rounds = 0;
      while (Date.now() < until) {
        const line = `round ${rounds++}\n`;
        t.equal(await echo(socket, line), line, `echo of ${line.trim()}`);
        await pause(100);
      }
      t.same(exitsOf(gw, 'echo'), [], 'not stopped while the connection moves bytes');
      t.equal(gw.gateway.apps.get('echo')!.instance, instance, 'the same instance served every round');

      const closedAt = Date.now();
      socket.end();
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const stopped = await gw.waitFor((l) => l.app === 'echo' && l.msg.startsWith('instance of echo '), 30_000);
      t.equal(stopped.reason, 'idle', 'stopped as idle');
      const after = (stopped.time as number) - closedAt;
      t.ok(after >= IDLE, `stopped ${after} ms after the close, not before idleTimeout`);
      t.equal(gw.gateway.apps.get('echo')!.state, 'stopped', 'and it stays stopped until the next connection');

      // Stopped, it wakes again on the next connection.
      const again = connect(port, '127.0.0.1');
      t.teardown(() => again.destroy());
      await new Promise<void>((resolve, reject) => again.once('connect', resolve).once('error', reject));
      t.equal(await echo(again, 'again\n'), 'again\n', 'the next connection wakes it again');
      t.equal(gw.events.starts('echo'), 2, 'a second start');
    });

    t.test('a download that lasts longer than idleTimeout completes byte for byte, and the app is not stopped during it', { timeout: 60_000 }, async (t) => {
      const gw = await startSocketGateway(t, { dl: socketApp(rc, ['tcp:127.0.0.1:0'], [rc.node, 'download.mjs'], SOCKET_FIXTURES, { idleTimeout: `${IDLE}ms` }) }, top);
      const port = boundPort(gw, 'dl', 'tcp:127.0.0.1:0');
      const bytes = 3 * 1024 * 1024;
      const ms = 4 * IDLE;
      const started = Date.now();
      const reply = await download(port, bytes, ms);
      const took = Date.now() - started;
      t.equal(reply.status, 200, 'the download is answered');
      t.ok(took > 2 * IDLE, `the download took ${took} ms, more than twice idleTimeout (${IDLE} ms)`);
      t.equal(reply.body.length, bytes, 'every byte arrived');
      t.ok(reply.body.equals(expectedDownload(bytes)), 'byte for byte as sent');
      t.same(exitsOf(gw, 'dl'), [], 'the instance was not stopped during the download');
      t.equal(gw.events.starts('dl'), 1, 'one start');

      // Once the connection is closed nothing uses it: it is stopped as idle, which shows the rule ran all along.
      const stopped = await gw.waitFor((l) => l.app === 'dl' && l.msg.startsWith('instance of dl '), 30_000);
      t.equal(stopped.reason, 'idle', 'stopped as idle once the download is over');
    });
  });
}
