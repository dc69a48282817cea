// The event loop's one epoll set (ReadinessSet) and ReadableWatch on it, with real listening sockets and real clients.
import { spawn as nodeSpawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { connectQueued, isNonBlocking, openFds, turns } from '../helpers/fd-probes.js';
import type { SyscallError } from '../../src/errors.js';
import { closeFd, getSockName, inetListen, pipe } from '../../src/native/index.js';
import { ReadableWatch } from '../../src/socket/readable-watch.js';
import { ReadinessSet, readinessSet, type ReadinessOwner } from '../../src/socket/readiness-set.js';
import { missingTool } from '../helpers/tools.js';

type Test = Pick<typeof t, 'teardown'>;

const watchModule = fileURLToPath(new URL('../../src/socket/readable-watch.js', import.meta.url));
const facade = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));

function tcpListener(t: Test): { fd: number; port: number } {
  const fd = inetListen('127.0.0.1', 0, 128);
  t.teardown(() => closeFd(fd));
  return { fd, port: getSockName(fd).port };
}

/** A watch armed in the test, disarmed by its teardown; counts what it reports. */
function armed(t: Test, fds: readonly number[], onPending: (fd: number) => void = () => {}, onError: (err: SyscallError) => void = () => {}): ReadableWatch {
  const watch = new ReadableWatch(fds);
  t.teardown(() => watch.disarm());
  watch.arm(onPending, onError);
  return watch;
}

t.test('1,000 watched listeners, a client of #537: exactly that watch fires, once', async (t) => {
  const listeners = Array.from({ length: 1000 }, () => tcpListener(t));
  const fired: number[] = [];
  const watches = listeners.map((l, i) => armed(t, [l.fd], () => fired.push(i), (err) => t.fail(err.message)));
  t.equal(readinessSet().size, 1000);
  await turns();
  t.same(fired, [], 'nothing is pending yet');
  await connectQueued(t, { port: listeners[537]!.port });
  while (fired.length === 0) await turns(1);
  await turns(10);
  t.same(fired, [537], 'only the connected one, once, though its connection is still queued');
  t.notOk(watches[537]!.armed);
  t.equal(watches.filter((w) => w.armed).length, 999, 'the others still watch');
  for (const w of watches) w.disarm();
  t.equal(readinessSet().size, 0);
});

t.test('two watches readable in the same turn fire once each; a disarm in a callback silences the other', async (t) => {
  const a = tcpListener(t);
  const b = tcpListener(t);
  // Queued before arming: both are ready when the set is first read, so one epoll_wait returns both.
  await Promise.all([connectQueued(t, { port: a.port }), connectQueued(t, { port: b.port })]);
  const fired: number[] = [];
  armed(t, [a.fd], (fd) => fired.push(fd));
  armed(t, [b.fd], (fd) => fired.push(fd));
  await turns(10);
  t.same(fired.sort(), [a.fd, b.fd].sort(), 'each once');

  fired.length = 0;
  // The newcomer on an idle listener would get the other's token if it were free at once, and with it the
  // other's readiness, still in the batch.
  const idle = tcpListener(t);
  armed(t, [tcpListener(t).fd], () => t.fail('nothing pending')); // keeps the set from emptying (and starting over) meanwhile
  const newcomer = new ReadableWatch([idle.fd]);
  t.teardown(() => newcomer.disarm());
  const silence = (other: ReadableWatch): void => {
    other.disarm();
    newcomer.arm(() => t.fail('the newcomer has nothing pending'), (err) => t.fail(err.message));
  };
  const first: ReadableWatch = armed(t, [a.fd], (fd) => (fired.push(fd), silence(second)));
  const second: ReadableWatch = armed(t, [b.fd], (fd) => (fired.push(fd), silence(first)));
  await turns(10);
  t.equal(fired.length, 1, 'whichever came first disarmed the other, whose readiness was in the same batch');
  t.notOk(first.armed || second.armed);
  t.ok(newcomer.armed, 'and the newcomer armed in between heard nothing');
});

t.test('re-armed inside its own callback, with the connection still queued, it fires again', async (t) => {
  const l = tcpListener(t);
  await connectQueued(t, { port: l.port });
  let fires = 0;
  const watch = new ReadableWatch([l.fd]);
  t.teardown(() => watch.disarm());
  await new Promise<void>((resolve) => {
    const onPending = (): void => {
      if (++fires === 3) return resolve();
      watch.arm(onPending, (err) => t.fail(err.message));
    };
    watch.arm(onPending, (err) => t.fail(err.message));
  });
  await turns(5);
  t.equal(fires, 3, 'once per arm');
  t.notOk(watch.armed);
});

t.test('the set leaves the listener blocking, and holds its epoll fd only while it watches something', async (t) => {
  const set = readinessSet();
  t.equal(set.fd, -1, 'no fd while nothing is watched');
  const l = tcpListener(t);
  const before = openFds();
  const watch = armed(t, [l.fd]);
  t.ok(set.fd >= 0);
  t.equal(openFds(), before + 1, 'one epoll fd');
  t.notOk(isNonBlocking(l.fd), 'O_NONBLOCK untouched: the instance accepts blocking on the same file description');
  const more = armed(t, [tcpListener(t).fd]);
  t.equal(openFds(), before + 2, 'the second watch adds only its listener');
  watch.disarm();
  more.disarm();
  t.equal(set.fd, -1);
  t.equal(openFds(), before + 1, 'the epoll fd is closed again (the second listener remains)');
});

t.test('one watch per fd: a second arm on a watched fd throws EEXIST and watches none', async (t) => {
  const a = tcpListener(t);
  const b = tcpListener(t);
  let fired = 0;
  armed(t, [a.fd], () => fired++);
  const other = new ReadableWatch([b.fd, a.fd]);
  t.throws(() => other.arm(() => t.fail('no callback'), () => t.fail('no error')), { code: 'WG_ERR_SYSCALL', syscall: 'epoll_ctl', errno: 'EEXIST' });
  t.notOk(other.armed);
  t.equal(readinessSet().size, 1, 'b was taken out again');
  await connectQueued(t, { port: a.port });
  while (fired === 0) await turns(1);
  t.equal(fired, 1, 'the first watch is intact');
});

t.test('a hung-up fd reaches onError once, with a SyscallError, and the watch is disarmed', async (t) => {
  const [r, w] = pipe();
  t.teardown(() => closeFd(r));
  const errors: Array<[SyscallError, number]> = [];
  const watch = armed(t, [r], () => t.fail('no pending'), (err) => void errors.push([err, r]));
  closeFd(w);
  while (errors.length === 0) await turns(1);
  await turns(5);
  t.equal(errors.length, 1);
  t.match(errors[0]![0], { code: 'WG_ERR_SYSCALL', syscall: 'epoll_wait', errno: 'EPIPE' });
  t.notOk(watch.armed);
});

t.test('a listener shut down by a process that shares it reaches onError', { skip: missingTool('python3', 'python3') }, async (t) => {
  const l = tcpListener(t);
  const errors: SyscallError[] = [];
  armed(t, [l.fd], () => t.fail('a shut-down socket is not a pending connection'), (err) => void errors.push(err));
  const py = nodeSpawn('python3', ['-c', 'import socket; socket.socket(fileno=3).shutdown(socket.SHUT_RDWR)'], { stdio: ['ignore', 'inherit', 'inherit', l.fd] });
  t.teardown(() => py.kill('SIGKILL'));
  t.equal(await new Promise((resolve) => py.once('exit', resolve)), 0);
  while (errors.length === 0) await turns(1);
  t.match(errors[0], { errno: 'EPIPE' });
});

t.test('a bare set reports a level-triggered fd every turn until removed, and frees tokens for reuse', async (t) => {
  const set = new ReadinessSet();
  const l = tcpListener(t);
  await connectQueued(t, { port: l.port });
  let reports = 0;
  const owner: ReadinessOwner = { ready: () => void reports++ };
  const token = set.add(l.fd, owner);
  t.teardown(() => set.remove(token));
  while (reports < 3) await turns(1);
  set.remove(token);
  set.remove(token);
  const seen = reports;
  await turns(10);
  t.equal(reports, seen, 'nothing after remove');
  t.equal(set.fd, -1);
  const again = set.add(l.fd, owner);
  t.equal(again, 0, 'the table starts over once empty');
  set.remove(again);
  t.throws(() => set.add(123456, owner), { code: 'WG_ERR_SYSCALL', errno: 'EBADF' });
  t.equal(set.fd, -1, 'a failed first add leaves no epoll fd behind');
});

t.test('1,000 arm/disarm cycles leak no fd', async (t) => {
  const l = tcpListener(t);
  const before = openFds();
  const watch = new ReadableWatch([l.fd]);
  for (let i = 0; i < 1000; i++) {
    watch.arm(() => {}, () => {});
    watch.disarm();
    watch.disarm();
  }
  await turns();
  t.equal(openFds(), before);
});

t.test('an armed watch keeps the process alive until it fires; disarmed, the process exits by itself', async (t) => {
  const script = `
    import { inetListen, getSockName, closeFd } from ${JSON.stringify(facade)};
    import { ReadableWatch } from ${JSON.stringify(watchModule)};
    const fd = inetListen('127.0.0.1', 0, 16);
    for (let i = 0; i < 100; i++) { const w = new ReadableWatch([fd]); w.arm(() => {}, () => {}); w.disarm(); }
    new ReadableWatch([fd]).arm(() => { closeFd(fd); console.log('woken'); }, (err) => console.log(err.message));
    console.log(getSockName(fd).port);
  `;
  const child = nodeSpawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.split('\n')[0]));
    }),
  );
  // The child exits as soon as it is woken: its listener's close may reset the connection before Node sees it up.
  const client = net.connect(port, '127.0.0.1').on('error', () => {});
  t.teardown(() => client.destroy());
  t.equal(await exited, 0);
  t.equal(out.split('\n')[1], 'woken', 'it waited for the connection');
});
