// pollReadable and ReadableWatch on real listening sockets, with real clients.
import { spawn as nodeSpawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { connectQueued, isNonBlocking, openFds, turns } from '../helpers/fd-probes.js';
import { closeFd, getSockName, inetListen, pollReadable, unixListen } from '../../src/native/index.js';
import { ReadableWatch } from '../../src/socket/readable-watch.js';

type Test = Pick<typeof t, 'teardown'>;

const facade = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));

function tcpListener(t: Test, host = '127.0.0.1'): { fd: number; port: number } {
  const fd = inetListen(host, 0, 128);
  t.teardown(() => closeFd(fd));
  return { fd, port: getSockName(fd).port };
}

function unixListener(t: Test): { fd: number; path: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-poll-'));
  const file = path.join(dir, 's.sock');
  const fd = unixListen(file, 128);
  t.teardown(() => {
    closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { fd, path: file };
}

for (const kind of ['tcp', 'tcp6', 'unix'] as const) {
  t.test(`pollReadable fires when a client connects to a ${kind} listener, not before`, async (t) => {
    const l = kind === 'unix' ? unixListener(t) : tcpListener(t, kind === 'tcp' ? '127.0.0.1' : '::1');
    let calls = 0;
    let fired!: () => void;
    const firedP = new Promise<void>((resolve) => (fired = resolve));
    const poll = pollReadable(l.fd, (err) => {
      t.equal(err, undefined, 'no poll error');
      calls++;
      poll.stop();
      fired();
    });
    t.teardown(() => poll.stop());
    await turns();
    t.equal(calls, 0, 'nothing is pending, so no callback');
    await connectQueued(t, 'path' in l ? { path: l.path } : { port: l.port, host: kind === 'tcp' ? '127.0.0.1' : '::1' });
    await firedP;
    t.equal(calls, 1);
    t.notOk(isNonBlocking(l.fd), 'the listener stays blocking: the instance shares its file description');
  });
}

t.test('level-triggered: a queued connection fires every turn until stop(), and never after', async (t) => {
  const l = tcpListener(t);
  await connectQueued(t, l);
  let calls = 0;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const poll = pollReadable(l.fd, () => {
    if (++calls === 3) {
      poll.stop();
      poll.stop();
      stopped();
    }
  });
  await done;
  await turns(10);
  t.equal(calls, 3, 'no callback after stop(), though the connection is still queued');
  poll.stop();
});

t.test('pollReadable refuses a bad fd, and a second watch on one fd, with a SyscallError', async (t) => {
  t.throws(() => pollReadable(123456, () => undefined), { code: 'WG_ERR_SYSCALL', syscall: 'pollReadable', errno: 'EBADF' });
  const l = tcpListener(t);
  const poll = pollReadable(l.fd, () => undefined);
  t.teardown(() => poll.stop());
  t.throws(() => pollReadable(l.fd, () => undefined), { code: 'WG_ERR_SYSCALL', errno: 'EEXIST' });
});

t.test('1,000 arm/stop cycles leak no fd', async (t) => {
  const l = tcpListener(t);
  const before = openFds();
  for (let i = 0; i < 1000; i++) {
    const poll = pollReadable(l.fd, () => undefined);
    poll.stop();
    poll.stop();
  }
  await turns();
  t.equal(openFds(), before);
});

t.test('stopped watches release the event loop: a process that made 1,000 exits by itself', async (t) => {
  const script = `
    import { inetListen, pollReadable, closeFd } from ${JSON.stringify(facade)};
    const fd = inetListen('127.0.0.1', 0, 16);
    for (let i = 0; i < 1000; i++) pollReadable(fd, () => {}).stop();
    const last = pollReadable(fd, () => {});
    setImmediate(() => { last.stop(); closeFd(fd); console.log('done'); });
  `;
  const child = nodeSpawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0);
  t.equal(out.trim(), 'done');
});

t.test('ReadableWatch: 50 clients at once give exactly one onPending', async (t) => {
  const a = tcpListener(t);
  const b = unixListener(t);
  const watch = new ReadableWatch([a.fd, b.fd]);
  t.teardown(() => watch.disarm());
  const pending: number[] = [];
  watch.arm((fd) => pending.push(fd), (err) => t.fail(err.message));
  await Promise.all(Array.from({ length: 50 }, (_, i) => connectQueued(t, i % 2 ? { path: b.path } : a)));
  await turns(10);
  t.equal(pending.length, 1, 'one wake-up for the whole herd');
  t.ok([a.fd, b.fd].includes(pending[0]!));
  t.notOk(watch.armed, 'it disarmed itself');

  await new Promise<void>((resolve) => watch.arm(() => resolve(), (err) => t.fail(err.message)));
  t.pass('re-armed with connections still queued, it fires at once');
});

t.test('ReadableWatch: nothing after disarm; arming twice is a bug', async (t) => {
  const l = tcpListener(t);
  const watch = new ReadableWatch([l.fd]);
  let calls = 0;
  watch.arm(() => calls++, (err) => t.fail(err.message));
  t.throws(() => watch.arm(() => calls++, () => undefined), /armed already/);
  watch.disarm();
  watch.disarm();
  await connectQueued(t, l);
  await turns(10);
  t.equal(calls, 0);
});

t.test('ReadableWatch.arm that cannot poll one fd watches none', async (t) => {
  const l = tcpListener(t);
  const watch = new ReadableWatch([l.fd, 123456]);
  t.throws(() => watch.arm(() => t.fail('no callback'), () => t.fail('no error')), { code: 'WG_ERR_SYSCALL' });
  t.notOk(watch.armed);
  await connectQueued(t, l);
  await turns(10);
});
