// Kernel counters against real sockets: counts, bytes and accept queues as sock_diag and /proc/net see them.
import { type ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { closeFd, netlinkDump, unixListen } from '../../src/native/index.js';
import { type HeldListener, KernelCounters, type ListenerCounters, ownSocketInodes, socketInode } from '../../src/socket/kernel-counters.js';
import { NETLINK_SOCK_DIAG } from '../../src/socket/netlink-message.js';
import { procNetTcp } from '../../src/socket/proc-net.js';
import { parseUnixDiag, unixDiagRequest } from '../../src/socket/unix-diag.js';
import { needTool } from '../helpers/tools.js';

type Test = Pick<typeof t, 'teardown'>;

const netlink = new KernelCounters();

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function one(counters: KernelCounters, listener: HeldListener, exclude?: ReadonlySet<number>): Promise<ListenerCounters | undefined> {
  return (await counters.sample([listener], { exclude })).get(listener.key);
}

/** The inode of a TCP listener on `port`, as /proc/net/tcp lists it (node:net does not expose its fd). */
function tcpListenerInode(port: number, family: 4 | 6 = 4): number {
  const row = procNetTcp(family).find((r) => r.state === 10 && r.localPort === port);
  if (!row) throw new Error(`no TCP listener on port ${port}`);
  return row.inode;
}

/**
 * Kernel state such as a finished handshake has no event to await in userspace; poll the condition,
 * bounded, instead of sleeping a fixed time.
 */
async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function connectTcp(t: Test, port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const c = net.connect(port, host);
  t.teardown(() => c.destroy());
  return once(c, 'connect').then(() => c);
}

function connectUnix(t: Test, file: string): Promise<net.Socket> {
  const c = net.connect(file);
  t.teardown(() => c.destroy());
  return once(c, 'connect').then(() => c);
}

async function read(sock: net.Socket, bytes: number): Promise<void> {
  let got = 0;
  while (got < bytes) got += ((await once(sock, 'data')) as [Buffer])[0].length;
}

/** Resolves once `server` has accepted `n` more connections. */
function accepts(server: net.Server, n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    const on = () => {
      if (--left > 0) return;
      server.off('connection', on);
      resolve();
    };
    server.on('connection', on);
  });
}

/** A child process holding `count` connections to `target` until its stdin closes: a peer that is not us. */
async function foreignClients(t: Test, target: string | number, count: number): Promise<ChildProcess> {
  const script = `const net=require('net');let n=0;for(let i=0;i<${count};i++){const c=net.connect(${JSON.stringify(target)});c.on('connect',()=>{if(++n===${count})process.stdout.write('up\\n')})}process.stdin.on('end',()=>process.exit(0)).resume()`;
  const child = nodeSpawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  await once(child.stdout!, 'data');
  return child;
}

/** Bytes a server socket has read, with a promise for reaching a total. */
class ReadCount {
  got = 0;
  #waiters: { total: number; resolve: () => void }[] = [];
  add(n: number): void {
    this.got += n;
    this.#waiters = this.#waiters.filter((w) => (w.total <= this.got ? (w.resolve(), false) : true));
  }
  reached(total: number): Promise<void> {
    return this.got >= total ? Promise.resolve() : new Promise((resolve) => this.#waiters.push({ total, resolve }));
  }
}

t.test('TCP: connections go 0 -> N -> 0 and bytes are exact in each direction', async (t) => {
  const proc = new KernelCounters({ source: 'proc' });
  const sent = 3000; // client -> server
  const echoed = 7000; // server -> client
  const closed: Promise<unknown>[] = [];
  const reads: ReadCount[] = [];
  const server = net.createServer((s) => {
    closed.push(once(s, 'close'));
    const r = new ReadCount();
    reads.push(r);
    s.on('data', (d: Buffer) => {
      r.add(d.length);
      if (r.got === sent) s.write(Buffer.alloc(echoed));
    });
    s.on('end', () => s.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const listener: HeldListener = { key: 'echo', kind: 'tcp', inode: tcpListenerInode(port) };
  t.match(await one(netlink, listener), { connections: 0, bytes: 0, acceptQueue: 0 }, 'no connection yet');
  t.match(await one(proc, listener), { connections: 0, bytes: null, acceptQueue: 0 });

  const n = 4;
  const accepted = accepts(server, n);
  const clients = await Promise.all(Array.from({ length: n }, () => connectTcp(t, port)));
  await accepted;
  t.match(await one(netlink, listener), { connections: n, bytes: 0, acceptQueue: 0 }, 'N accepted connections, no bytes yet');
  t.equal((await one(proc, listener))?.connections, n, '/proc/net/tcp counts the same');

  for (const c of clients) c.write(Buffer.alloc(sent));
  await Promise.all(clients.map((c) => read(c, echoed)));
  // The byte each client sends after reading the echo carries its ACK of it: once the server has read
  // that byte, its bytes_acked is final.
  for (const c of clients) c.write('!');
  await Promise.all(reads.map((r) => r.reached(sent + 1)));
  const after = (await one(netlink, listener))!;
  t.equal(after.bytes, n * (sent + 1 + echoed), 'bytes acked + bytes received over the N server sockets, exactly');
  t.equal(after.bytesMoved, n * (sent + 1 + echoed), 'bytesMoved: all of it, since the previous sample had none');
  t.equal(after.queuedBytes, 0, 'everything read and acknowledged');
  t.equal((await one(netlink, listener))!.bytesMoved, 0, 'nothing moved since the previous sample');

  clients[0]!.write(Buffer.alloc(500));
  await reads[0]!.reached(sent + 1 + 500);
  t.match(await one(netlink, listener), { bytes: n * (sent + 1 + echoed) + 500, bytesMoved: 500 }, 'bytesMoved: what moved since the previous sample');

  for (const c of clients) c.end();
  await Promise.all(closed);
  t.match(await one(netlink, listener), { connections: 0, bytes: 0 }, 'closed connections are gone');
  t.equal((await one(proc, listener))?.connections, 0);
});

/** A TCP listener that never accepts (node:net always accepts): python3 holds it until its stdin closes. */
async function pythonListener(t: Test, host: string, backlog: number): Promise<number> {
  const script = `import socket,sys\ns=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\ns.bind((sys.argv[1],0))\ns.listen(${backlog})\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()`;
  const child = nodeSpawn('python3', ['-c', script, host], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return Number(line.toString().trim());
}

t.test('TCP accept queue: the listener reports its pending, unaccepted connections (IPv4 and IPv6)', async (t) => {
  if (!needTool(t, 'python3', 'python3')) return;
  const proc = new KernelCounters({ source: 'proc' });
  for (const [host, family] of [['127.0.0.1', 4], ['::1', 6]] as const) {
    const port = await pythonListener(t, host, 16);
    const listener: HeldListener = { key: host, kind: 'tcp', inode: tcpListenerInode(port, family) };
    t.match(await one(netlink, listener), { connections: 0, acceptQueue: 0 }, `${host}: empty queue`);
    const pending = 3;
    const clients = await Promise.all(Array.from({ length: pending }, () => connectTcp(t, port, host)));
    await until('the handshakes to complete', async () => (await one(netlink, listener))?.acceptQueue === pending);
    t.match(await one(netlink, listener), { connections: 0, acceptQueue: pending }, `${host}: queued connections are not connections`);
    t.match(await one(proc, listener), { connections: 0, acceptQueue: pending }, `${host}: /proc/net/tcp${family === 6 ? '6' : ''} gives the same queue`);
    for (const c of clients) c.destroy();
  }
});

t.test('Unix: accept queue, then connections 0 -> N -> 0, through a /proc/self/fd bind path', async (t) => {
  const dir = tempDir(t);
  const dirFd = openSync(dir, 'r');
  t.teardown(() => closeSync(dirFd));
  // Bound the way the gateway binds app sockets, so the kernel's name for it is this string, not `file`.
  const bound = `/proc/self/fd/${dirFd}/app.sock`;
  const file = path.join(dir, 'app.sock');
  const fd = unixListen(bound, 16);
  let owned = true;
  t.teardown(() => owned && closeFd(fd));
  const listener: HeldListener = { key: 'app', kind: 'unix', inode: socketInode(fd) };
  const proc = new KernelCounters({ source: 'proc' });
  t.match(await one(netlink, listener), { connections: 0, acceptQueue: 0, bytes: null, bytesMoved: null }, 'idle listener');
  t.match(await one(proc, listener), { connections: 0, acceptQueue: 0, bytes: null });

  const n = 3;
  const clients = await Promise.all(Array.from({ length: n }, () => connectUnix(t, file)));
  t.match(await one(netlink, listener), { connections: 0, acceptQueue: n }, 'pending connections are in the queue');
  t.match(await one(proc, listener), { connections: 0, acceptQueue: n }, '/proc/net/unix gives the same queue');

  const closed: Promise<unknown>[] = [];
  const server = net.createServer((s) => {
    closed.push(once(s, 'close'));
    s.on('end', () => s.end());
  });
  const accepted = accepts(server, n);
  server.listen({ fd }); // node takes the fd over and accepts: the instance's part
  owned = false;
  t.teardown(() => server.close());
  await accepted;
  t.match(await one(netlink, listener), { connections: n, acceptQueue: 0, queuedBytes: 0 }, 'accepted: the queue drained');
  t.match(await one(proc, listener), { connections: n, acceptQueue: 0 });

  const rows = parseUnixDiag(await netlinkDump(NETLINK_SOCK_DIAG, unixDiagRequest()));
  const own = rows.find((r) => r.inode === listener.inode)!;
  const children = rows.filter((r) => r.state === 1 && r.file === own.file);
  t.equal(own.name, bound, "the listener's name is the path given to bind");
  t.equal(children.length, n, 'accepted sockets share the bound file');
  t.ok(children.every((r) => r.name === bound), "accepted sockets carry the listener's name (this kernel)");

  for (const c of clients) c.end();
  await Promise.all(closed);
  t.match(await one(netlink, listener), { connections: 0 }, 'closed');
  t.match(await one(proc, listener), { connections: 0 });
});

t.test("the gateway's own client connections are not counted; a foreign client's are", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.sock');
  const fd = unixListen(file, 16);
  const unixListener: HeldListener = { key: 'unix', kind: 'unix', inode: socketInode(fd) };
  const unixServer = net.createServer().listen({ fd });
  t.teardown(() => unixServer.close());
  const tcpServer = net.createServer().listen(0, '127.0.0.1');
  await once(tcpServer, 'listening');
  t.teardown(() => tcpServer.close());
  const port = (tcpServer.address() as net.AddressInfo).port;
  const tcpListener: HeldListener = { key: 'tcp', kind: 'tcp', inode: tcpListenerInode(port) };

  const acceptedUnix = accepts(unixServer, 3);
  const acceptedTcp = accepts(tcpServer, 3);
  await Promise.all([connectUnix(t, file), connectUnix(t, file), connectTcp(t, port), connectTcp(t, port)]);
  await foreignClients(t, file, 1);
  await foreignClients(t, port, 1);
  await Promise.all([acceptedUnix, acceptedTcp]);
  const all = await netlink.sample([unixListener, tcpListener]);
  t.equal(all.get('unix')?.connections, 3, 'without exclusion every accepted connection counts');
  t.equal(all.get('tcp')?.connections, 3);
  const mine = ownSocketInodes();
  t.ok(mine.has(unixListener.inode), 'ownSocketInodes lists our own sockets');
  const counted = await netlink.sample([unixListener, tcpListener], { exclude: mine });
  t.equal(counted.get('unix')?.connections, 1, "Unix: only the other process's connection");
  t.equal(counted.get('tcp')?.connections, 1, "TCP: only the other process's connection");
});

t.test('Unix listeners sharing a name are told apart by their socket file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.sock');
  const old = unixListen(file, 16);
  // A socket file moved away keeps its bound name: a second listener at the same path now has it too.
  renameSync(file, path.join(dir, 'moved.sock'));
  const fresh = unixListen(file, 16);
  const listeners: HeldListener[] = [
    { key: 'old', kind: 'unix', inode: socketInode(old) },
    { key: 'fresh', kind: 'unix', inode: socketInode(fresh) },
  ];
  const servers = [old, fresh].map((fd) => net.createServer().listen({ fd }));
  t.teardown(() => servers.forEach((s) => s.close()));
  const accepted = [accepts(servers[0]!, 1), accepts(servers[1]!, 2)];
  await connectUnix(t, path.join(dir, 'moved.sock'));
  await connectUnix(t, file);
  await connectUnix(t, file);
  await Promise.all(accepted);
  const result = await netlink.sample(listeners);
  t.equal(result.get('old')?.connections, 1, 'the moved listener: its one connection');
  t.equal(result.get('fresh')?.connections, 2, 'the new one: its two');
});

t.test('one sample covers many listeners; a listener the kernel lacks is absent', async (t) => {
  const dir = tempDir(t);
  const fds = Array.from({ length: 50 }, (_, i) => unixListen(path.join(dir, `${i}.sock`), 8));
  t.teardown(() => fds.forEach((fd) => closeFd(fd)));
  const listeners: HeldListener[] = fds.map((fd, i) => ({ key: `app${i}`, kind: 'unix', inode: socketInode(fd) }));
  await connectUnix(t, path.join(dir, '7.sock'));
  await connectUnix(t, path.join(dir, '7.sock'));
  const gone: HeldListener = { key: 'gone', kind: 'tcp', inode: 0x7ffffff0 };
  const result = await netlink.sample([...listeners, gone]);
  t.equal(result.size, 50, 'every held listener, and not the missing one');
  t.equal(result.get('app7')?.acceptQueue, 2);
  t.ok([...result].every(([key, c]) => key === 'app7' || c.acceptQueue === 0), 'no other listener sees them');
  t.equal(result.has('gone'), false);
});
