import { spawn, spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { fixtureApp, startGateway, until, type TestGateway } from '../helpers/gateway.js';

/**
 * The slow-read attack of issue 9: clients that ask for a large response and never read it, more of them
 * than the app had upstream connections (128). Before the breaker and sendTimeout they made the app
 * unreachable for everyone, and got the healthy instance replaced as `unresponsive`.
 */

const ATTACKERS = 135;
const SEND_TIMEOUT_MS = 10_000;

function victim(t: Test): Promise<TestGateway> {
  // 127.0.0.1 as a host too, for slowhttptest, which sends the URL's host. responseTimeout is short so that
  // a good request stuck behind the attackers fails the test in seconds rather than after 60 s.
  return startGateway(t, { victim: fixtureApp(['victim.localhost', '127.0.0.1'], { responseTimeout: '5s' }) }, { limits: { sendTimeout: `${SEND_TIMEOUT_MS}ms` } });
}

interface Served {
  status: number;
  pid: number;
  ms: number;
}

async function good(gw: TestGateway): Promise<Served> {
  const started = Date.now();
  const reply = await gw.get('victim.localhost');
  return { status: reply.status, pid: reply.status === 200 ? (JSON.parse(reply.body) as { pid: number }).pid : 0, ms: Date.now() - started };
}

async function goodSeries(gw: TestGateway, n: number): Promise<Served[]> {
  const out: Served[] = [];
  for (let i = 0; i < n; i++) out.push(await good(gw));
  return out;
}

/**
 * Measures a good client, starts the attack, checks the good client while `holding` attacker requests are in
 * flight (each holding an upstream connection), then waits for sendTimeout to cut the attackers.
 */
async function underAttack(t: Test, gw: TestGateway, attack: () => void, holding: number, attackersGone: () => Promise<void>): Promise<void> {
  const app = gw.gateway.apps.get('victim')!;
  const baseline = await goodSeries(gw, 5);
  t.same(baseline.map((r) => r.status), [200, 200, 200, 200, 200], 'baseline, before the attack');
  const pid = baseline[0]!.pid;
  const instance = app.instance!.id;
  attack();
  return (async () => {
    await until(() => app.inflight >= holding, 20_000, `${holding} slow readers in flight`);
    const during = await goodSeries(gw, 10);
    t.ok(app.inflight >= holding, `the attackers still held their responses meanwhile (${app.inflight} in flight)`);
    t.same(during.map((r) => r.status), Array(10).fill(200), 'every good request during the attack is served');
    t.same(new Set(during.map((r) => r.pid)), new Set([pid]), 'by the same instance');
    const worst = Math.max(...during.map((r) => r.ms));
    const base = Math.max(...baseline.map((r) => r.ms));
    // Not a timing benchmark: only far from the 5 s responseTimeout that a queued request would hit.
    t.ok(worst < 2500, `none waited long (worst ${worst} ms, baseline worst ${base} ms)`);
    await until(() => app.inflight === 0, SEND_TIMEOUT_MS + 10_000, 'every slow response cut');
    await attackersGone();
    t.ok(gw.lines.some((l) => l.code === 'WG_ERR_SEND_TIMEOUT'), 'cut for sendTimeout, and logged as such');
    const after = await good(gw);
    t.equal(after.status, 200, 'served after the attack');
    t.equal(after.pid, pid, 'by the same process');
    t.equal(app.instance?.id, instance, 'the instance was never replaced');
    t.equal(gw.runtime.starts, 1, 'one start in all');
    t.notOk(gw.lines.some((l) => l.reason === 'unresponsive'), 'no unresponsive stop');
    t.equal(app.backoffRemainingMs, 0, 'nothing counted toward backoff');
  })();
}

t.test('135 clients that never read a large response: a good client is served throughout, the instance stays', async (t) => {
  const gw = await victim(t);
  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  const closed: Promise<void>[] = [];
  const launch = (): void => {
    for (let i = 0; i < ATTACKERS; i++) {
      const s = connect(gw.port, '127.0.0.1');
      // Never read: the receive buffer fills, then the gateway's send buffer, then the gateway holds the
      // upstream. 16 MiB, because Node cannot shrink SO_RCVBUF as the client did (1 KiB, 2 MiB):
      // the loopback's kernel buffers would otherwise swallow the whole response.
      s.pause();
      s.on('error', () => {});
      closed.push(new Promise((resolve) => s.once('close', () => resolve())));
      s.write('GET /download?bytes=16777216 HTTP/1.1\r\nhost: victim.localhost\r\n\r\n');
      sockets.push(s);
    }
  };
  await underAttack(t, gw, launch, ATTACKERS, async () => {
    // A client that never reads cannot see its connection end; once it reads, it finds it reset.
    for (const s of sockets) s.resume();
    await Promise.all(closed);
    t.ok(sockets.every((s) => s.bytesRead < 16 * 1024 * 1024), 'every attacker connection was cut by the gateway, none served whole');
  });
});

const haveSlowhttptest = spawnSync('slowhttptest', ['-h'], { stdio: 'ignore' }).error === undefined;

t.test('slowhttptest -X (slow read, small window) against the same app', { skip: haveSlowhttptest ? false : 'slowhttptest not found; apt-get install slowhttptest' }, async (t) => {
  const gw = await victim(t);
  let exited: Promise<void> = Promise.resolve();
  let stop = (): void => {};
  t.teardown(async () => {
    stop();
    await exited;
  });
  const launch = (): void => {
    // -w/-y: advertised window of 512 to 1024 bytes; -n/-z: 32 bytes read every 5 s. -l bounds its run.
    const attack = spawn(
      'slowhttptest',
      ['-X', '-c', String(ATTACKERS), '-r', String(ATTACKERS), '-w', '512', '-y', '1024', '-n', '5', '-z', '32', '-k', '1', '-l', '40', '-p', '3', '-u', `http://127.0.0.1:${gw.port}/download?bytes=2097152`],
      { stdio: 'ignore' },
    );
    exited = new Promise<void>((resolve) => attack.once('exit', () => resolve()));
    stop = () => attack.kill('SIGKILL');
  };
  await underAttack(t, gw, launch, ATTACKERS, async () => {});
});

/** A raw WebSocket handshake through the gateway; resolves with the socket once the 101 head is in. */
function rawWebSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write('GET /ws HTTP/1.1\r\nhost: victim.localhost\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
    );
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.removeListener('data', onData);
      s.pause();
      if (head.startsWith('HTTP/1.1 101')) resolve(s);
      else reject(new Error(head));
    };
    s.on('data', onData);
    s.on('error', reject);
  });
}

/** One masked binary frame (the echo app handles lengths below 64 KiB). */
function frame(payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x82, 0xfe, payload.length >> 8, payload.length & 255]), mask, masked]);
}

t.test('WebSocket: a client that takes none of what the app sends is cut after sendTimeout; a quiet one is not', async (t) => {
  const gw = await startGateway(t, { victim: fixtureApp(['victim.localhost']) }, { limits: { sendTimeout: '1500ms' } });
  const quiet = await rawWebSocket(gw.port);
  const flood = await rawWebSocket(gw.port);
  t.teardown(() => {
    quiet.destroy();
    flood.destroy();
  });
  const floodClosed = new Promise<void>((resolve) => flood.once('close', () => resolve()));
  flood.on('error', () => {});
  // 8 MB echoed back to a client that does not read: more than the kernel's buffers on both sides hold.
  const payload = Buffer.alloc(60_000, 7);
  for (let i = 0; i < 140; i++) flood.write(frame(payload));
  await until(() => gw.lines.some((l) => l.code === 'WG_ERR_SEND_TIMEOUT'), 15_000, 'the flooded WebSocket cut');
  t.match(gw.lines.find((l) => l.code === 'WG_ERR_SEND_TIMEOUT'), { status: 101 }, 'logged with its 101');
  flood.resume();
  await floodClosed;
  t.pass('the flooded connection is closed');
  // The quiet one has been open longer than sendTimeout with nothing to send: still there, and echoing.
  const echoed = new Promise<Buffer>((resolve) => quiet.once('data', resolve));
  quiet.resume();
  quiet.write(frame(Buffer.from('still here')));
  t.match((await echoed).toString('latin1'), /still here/, 'the quiet WebSocket was left alone');
});
