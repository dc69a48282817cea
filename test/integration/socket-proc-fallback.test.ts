// The /proc/net fallback, switched to by a real gateway whose kernel refuses sock_diag: a seccomp filter
// (test/fixtures/no-sock-diag.c) answers socket(AF_NETLINK, *, NETLINK_SOCK_DIAG) with EAFNOSUPPORT, as
// systemd-nspawn's filter and RestrictAddressFamilies= answer what they refuse. Without byte counts, the
// idle rule for TCP is the one for Unix sockets: queued bytes, or the instance's CPU time (README: Idle stop).
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { AppSnapshot } from '../../src/admin/snapshot.js';
import type { BoundAddress } from '../../src/listen.js';
import { runGateway, type GatewayProcess } from '../helpers/cli.js';
import { FIXTURE_APP, ROOT } from '../helpers/gateway.js';
import { open, roundTrip } from '../helpers/socket-mode.js';

const IDLE_MS = 1000;
const SAMPLE_MS = 200;
/** Timer and scheduling slack on a loaded 2-core machine, on top of the rule's own bound. */
const SLACK_MS = 1500;
const compiler = spawnSync('cc', ['--version']).status === 0;

/** The seccomp helper, compiled for this test. */
function noSockDiag(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-nodiag-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const helper = join(dir, 'no-sock-diag');
  execFileSync('cc', ['-o', helper, join(ROOT, 'test/fixtures/no-sock-diag.c')]);
  return helper;
}

async function boundOf(gw: GatewayProcess, app: string): Promise<BoundAddress> {
  return (await gw.waitFor((l) => l.app === app && l.msg === 'app socket listening')).bound as BoundAddress;
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

/**
 * GET `/?query` from the download fixture, reading at most `rate` bytes a second (Infinity: as fast as it
 * comes). `done` resolves with the body bytes that arrived, the instance's pid (x-pid) and whether the
 * connection ended before the body did.
 */
function download(bound: BoundAddress, query: string, rate = Infinity): { socket: Socket; done: Promise<{ body: number; pid: number; cut: boolean }> } {
  if (bound.kind !== 'tcp') throw new Error('tcp only');
  const s = connect(bound.port, bound.host, () => s.write(`GET /?${query} HTTP/1.1\r\nhost: dl\r\nconnection: close\r\n\r\n`));
  const done = new Promise<{ body: number; pid: number; cut: boolean }>((resolve, reject) => {
    let head = '';
    let body = 0;
    let length = -1;
    let pid = 0;
    const started = Date.now();
    let taken = 0;
    s.on('data', (d: Buffer) => {
      taken += d.length;
      if (length < 0) {
        head += d.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        pid = Number(/x-pid: (\d+)/i.exec(head)?.[1]);
        length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
        body += Buffer.byteLength(head.slice(end + 4), 'latin1');
      } else body += d.length;
      if (rate === Infinity) return;
      // Ahead of the pace: stop reading until it allows what was taken, so the app's send queue fills.
      const ahead = (taken / rate) * 1000 - (Date.now() - started);
      if (ahead > 0) {
        s.pause();
        setTimeout(() => s.resume(), ahead);
      }
    });
    s.on('close', () => resolve({ body, pid, cut: body !== length }));
    s.on('error', reject);
  });
  return { socket: s, done };
}

/** Waits out `ms` of a transfer that must go on that long (not a synchronisation: the duration is the test). */
function lasting(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

t.test('sock_diag refused by seccomp: the gateway switches to /proc/net once and still judges idleness', { skip: compiler ? false : 'needs a C compiler (apt-get install gcc)' }, async (t) => {
  const echo = { command: [process.execPath, 'echo.mjs'], dir: FIXTURE_APP, runtime: 'process', listen: ['tcp:127.0.0.1:0'], idleTimeout: `${IDLE_MS}ms` };
  const dl = { command: [process.execPath, join(ROOT, 'test/fixtures/socket/download.mjs')], dir: FIXTURE_APP, runtime: 'process', listen: ['tcp:127.0.0.1:0'], idleTimeout: `${IDLE_MS}ms` };
  const gw = await runGateway(t, { sampleInterval: `${SAMPLE_MS}ms`, admin: { listen: '127.0.0.1:0' }, apps: { quiet: echo, closer: echo, dl } }, undefined, { wrap: [noSockDiag(t)] });
  const admin = ((await gw.waitFor((l) => l.msg === 'admin listening')).address as { port: number }).port;
  const snapshot = async (app: string): Promise<AppSnapshot> => (await (await request(`http://127.0.0.1:${admin}/apps/${app}`)).body.json()) as AppSnapshot;
  const stopped = (app: string) => gw.waitFor((l) => l.app === app && l.msg === `instance of ${app} stopped (idle)`, 30_000);

  t.test('a connection that closes: the switch is logged once, and the app is idle-stopped', async (t) => {
    const socket = await open(await boundOf(gw, 'closer'));
    t.equal(await roundTrip(socket, 'hello\n'), 'hello\n', 'the first connection woke the app (its accept queue read from /proc/net/tcp)');
    const warned = await gw.waitFor((l) => l.level === 40 && /^sock_diag refused/.test(l.msg));
    t.match(warned, { errno: 'EAFNOSUPPORT', err: { code: 'WG_ERR_SYSCALL', errno: 'EAFNOSUPPORT' }, msg: /from \/proc\/net from now on/ });
    socket.destroy();
    await stopped('closer');
    t.equal(gw.lines.filter((l) => /^sock_diag refused/.test(l.msg)).length, 1, 'the switch was logged once, for every sampler and family');
  });

  t.test('an open but silent TCP connection is counted, and does not keep the app up past idleTimeout + sampleInterval', async (t) => {
    const socket = await open(await boundOf(gw, 'quiet'));
    t.teardown(() => socket.destroy());
    const gone = closed(socket);
    t.equal(await roundTrip(socket, 'hello\n'), 'hello\n');
    const lastByte = Date.now();
    let stop = false;
    const seen = await Promise.race([
      (async () => {
        // Polled from outside (admin JSON), as an operator would; bounded by the idle stop.
        while (!stop) {
          if ((await snapshot('quiet')).connections === 1) return true;
          await lasting(50);
        }
        return false;
      })(),
      stopped('quiet').then(() => false),
    ]);
    stop = true;
    t.ok(seen, 'the connection was counted from /proc/net/tcp while the app ran');
    await stopped('quiet');
    const after = Date.now() - lastByte;
    t.ok(after <= IDLE_MS + SAMPLE_MS + SLACK_MS, `stopped ${after} ms after the last byte`);
    await gone;
    t.pass('the silent connection ended with its instance');
  });

  t.test('a paced download (bytes move, nothing stays queued: the CPU rule) is not cut', async (t) => {
    // 160 MB over 4 s, 2 MB every 50 ms: the instance's CPU time is far above busyCpu's 2% meanwhile.
    const from = gw.lines.length;
    const started = Date.now();
    const { done } = download(await boundOf(gw, 'dl'), `bytes=${160 * 1024 ** 2}&ms=${4 * IDLE_MS}`);
    const got = await done;
    t.ok(Date.now() - started >= 3 * IDLE_MS, `it lasted ${Date.now() - started} ms, more than 3 × idleTimeout`);
    t.same(got.cut, false, 'the download completed');
    t.equal(got.body, 160 * 1024 ** 2, 'every byte arrived');
    t.same(exitsOf(gw, 'dl', from), [], 'no instance of dl ended meanwhile');
  });

  t.test('a slow reader of a big download (bytes queued at every sample: the queue rule) is not cut', async (t) => {
    // 32 MB sent at once, read at 2 MB/s for 4 s: far more than the kernel buffers hold, so the app's
    // send queue is never empty, whatever its CPU time.
    const from = gw.lines.length;
    const { socket, done } = download(await boundOf(gw, 'dl'), `bytes=${32 * 1024 ** 2}&ms=0`, 2 * 1024 ** 2);
    t.teardown(() => socket.destroy());
    const cut = done.then(() => 'cut' as const);
    t.equal(await Promise.race([lasting(4 * IDLE_MS).then(() => 'reading' as const), cut]), 'reading', 'still reading after 4 × idleTimeout');
    t.same(exitsOf(gw, 'dl', from), [], 'no instance of dl ended meanwhile');
    socket.destroy();
    t.ok((await done).body > 4 * 1024 ** 2, 'bytes moved all along');
    const stoppedAt = gw.lines.length;
    await gw.waitFor((l) => l.app === 'dl' && l.msg === 'instance of dl stopped (idle)' && gw.lines.indexOf(l) >= stoppedAt, 30_000);
    t.pass('once the reader hung up, the app is let go');
    t.equal(gw.lines.filter((l) => /^sock_diag refused/.test(l.msg)).length, 1, 'and the switch is still logged once, after every kind of sample');
  });
});

/** Stops and exits of `app`'s instances logged from line `from` on. */
function exitsOf(gw: GatewayProcess, app: string, from: number): string[] {
  return gw.lines
    .slice(from)
    .filter((l) => l.app === app && new RegExp(`^instance of ${app} (stopped|exited)`).test(l.msg))
    .map((l) => l.msg);
}
