// notify(): one datagram, with SCM_RIGHTS, received by a real receiver (python3's recvmsg), which proves
// the passed fd is the same socket (same inode) and not a copy of something else.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { closeFd, inetListen, notify, pipe, setCloexec, socketInfo, AF_INET, AF_UNIX, SOCK_STREAM, unixListen } from '../../src/native/index.js';
import { socketInode } from '../../src/socket/kernel-counters.js';
import { ROOT } from '../helpers/gateway.js';

type Event = { fields?: Record<string, string>; raw?: string; fds?: Array<{ ino: number }>; pid?: number; listening?: string };

function receiver(t: Test, address: string): { next: () => Promise<Event>; child: ChildProcess } {
  const child = spawn('python3', [join(ROOT, 'test/fixtures/sd-manager.py'), address], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill());
  const queue: Event[] = [];
  const waiting: Array<(e: Event) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const e = JSON.parse(line) as Event;
    const w = waiting.shift();
    if (w) w(e);
    else queue.push(e);
  });
  return { child, next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiting.push(resolve))) };
}

t.test('notify sends the message to a path socket, with the fds as SCM_RIGHTS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'notify.sock');
  const r = receiver(t, path);
  t.same(await r.next(), { listening: path });
  t.equal(notify(path, 'READY=1\nSTATUS=up'), 0);
  const plain = await r.next();
  t.same(plain.fields, { READY: '1', STATUS: 'up' });
  t.same(plain.fds, []);
  t.equal(plain.pid, process.pid, 'sent from this process');
  const a = inetListen('127.0.0.1', 0, 8);
  const b = unixListen(join(dir, 'b.sock'), 8);
  t.teardown(() => (closeFd(a), closeFd(b)));
  t.equal(notify(path, 'FDSTORE=1\nFDNAME=two', [a, b]), 0);
  const stored = await r.next();
  t.same(stored.fields, { FDSTORE: '1', FDNAME: 'two' });
  t.same(stored.fds!.map((f) => f.ino), [socketInode(a), socketInode(b)], 'the receiver holds the very sockets');
});

t.test('notify reaches an abstract socket named with a leading @', async (t) => {
  const name = `@wg-notify-test-${process.pid}`;
  const r = receiver(t, name);
  await r.next();
  t.equal(notify(name, 'WATCHDOG=1'), 0);
  t.same((await r.next()).fields, { WATCHDOG: '1' });
});

t.test('notify returns -errno and never throws for a receiver that is not there', async (t) => {
  t.equal(notify('/nonexistent/notify.sock', 'READY=1'), -constants.errno.ENOENT);
  t.equal(notify(`@wg-nobody-${process.pid}`, 'READY=1'), -constants.errno.ECONNREFUSED);
  t.equal(notify('relative', 'READY=1'), -constants.errno.EINVAL);
  t.equal(notify('/tmp/x', 'FDSTORE=1', [9999]), -constants.errno.EBADF);
});

t.test('socketInfo tells a listening stream socket from others; setCloexec refuses a bad fd', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-sockinfo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tcp = inetListen('127.0.0.1', 0, 8);
  const unix = unixListen(join(dir, 'u.sock'), 8);
  t.teardown(() => (closeFd(tcp), closeFd(unix)));
  t.same(socketInfo(tcp), { domain: AF_INET, type: SOCK_STREAM, listening: true });
  t.same(socketInfo(unix), { domain: AF_UNIX, type: SOCK_STREAM, listening: true });
  t.throws(() => socketInfo(9999), { code: 'WG_ERR_SYSCALL', errno: 'EBADF' });
  const [r, w] = pipe();
  t.teardown(() => (closeFd(r), closeFd(w)));
  t.throws(() => socketInfo(r), { code: 'WG_ERR_SYSCALL', errno: 'ENOTSOCK' });
  t.throws(() => setCloexec(9999), { code: 'WG_ERR_SYSCALL', errno: 'EBADF' });
  setCloexec(tcp);
});
