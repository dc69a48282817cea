// The sock_diag and /proc/net parsers on crafted input, and netlinkDump's errors against the real kernel.
import os from 'node:os';
import t from 'tap';
import { SyscallError } from '../../src/errors.js';
import { netlinkDump } from '../../src/native/index.js';
import { parseInetDiag } from '../../src/socket/inet-diag.js';
import { NETLINK_SOCK_DIAG } from '../../src/socket/netlink-message.js';
import { procNetTcp, procNetUnix } from '../../src/socket/proc-net.js';
import { unixDiagRequest } from '../../src/socket/unix-diag.js';

t.test('netlinkDump refuses what the kernel refuses, as SyscallErrors', async (t) => {
  await t.rejects(netlinkDump(31, unixDiagRequest()), SyscallError, 'an unknown netlink protocol');
  await t.rejects(netlinkDump(NETLINK_SOCK_DIAG, Buffer.alloc(4)), new SyscallError('netlink', 'EINVAL', 22), 'shorter than a netlink header');
  const bad = unixDiagRequest();
  bad[16] = 99; // an address family sock_diag has no handler for
  await t.rejects(netlinkDump(NETLINK_SOCK_DIAG, bad), new SyscallError('netlink', 'EINVAL', 22), "the kernel's NLMSG_ERROR becomes its errno");
});

/** One SOCK_DIAG_BY_FAMILY message around an inet_diag_msg and an INET_DIAG_INFO of `infoLength` bytes. */
function inetMessage(infoLength: number): Buffer {
  const attr = 4 + infoLength;
  const msg = Buffer.alloc(16 + 72 + ((attr + 3) & ~3));
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(20, 4);
  msg[16] = 2; // AF_INET
  msg[17] = 1; // ESTABLISHED
  msg.writeUInt16BE(8080, 16 + 4);
  msg.set([10, 0, 0, 1], 16 + 8);
  msg.writeUInt32LE(4242, 16 + 68);
  msg.writeUInt16LE(attr, 88);
  msg.writeUInt16LE(2, 90);
  if (infoLength >= 136) {
    msg.writeBigUInt64LE(1000n, 92 + 120);
    msg.writeBigUInt64LE(2000n, 92 + 128);
  }
  return msg;
}

t.test('inet_diag parsing: tcp_info by length, truncated input', { skip: os.endianness() === 'LE' ? false : 'the crafted messages are little-endian' }, async (t) => {
  t.match(parseInetDiag(inetMessage(232)), [{ family: 4, state: 1, localAddress: '10.0.0.1', localPort: 8080, inode: 4242, bytesAcked: 1000, bytesReceived: 2000 }]);
  t.match(parseInetDiag(inetMessage(104)), [{ inode: 4242, bytesAcked: null, bytesReceived: null }], 'a tcp_info from before Linux 4.1 has no byte counters');
  const two = Buffer.concat([inetMessage(232), inetMessage(232)]);
  t.equal(parseInetDiag(two.subarray(0, two.length - 10)).length, 1, 'a cut message is dropped, the whole one before it kept');
  t.same(parseInetDiag(Buffer.from('garbage, not netlink')), [], 'garbage gives nothing, and no throw');
});

t.test('/proc/net parsing: addresses, ports, queues and pending Unix connections', async (t) => {
  const le = os.endianness() === 'LE';
  const v4 = le ? '0100007F' : '7F000001';
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: ${v4}:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: ${v4}:1F90 ${v4}:A000 01 00000010:00000020 00:00000000 00000000     0        0 112 1 0000000000000000 20 4 30 10 -1
   2: ${v4}:1F90 ${v4}:A001 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n`;
  t.match(procNetTcp(4, tcp), [
    { state: 10, localAddress: '127.0.0.1', localPort: 8080, inode: 111, rqueue: 3 },
    { state: 1, remotePort: 0xa000, inode: 112, rqueue: 0x20, wqueue: 0x10, bytesAcked: null },
  ]);
  t.equal(procNetTcp(4, tcp).length, 2, 'TIME_WAIT is left out');
  const mapped = le ? '0000000000000000FFFF00000100007F' : '00000000000000000000FFFF7F000001';
  const tcp6 = `header\n   0: ${mapped}:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 7 1\n`;
  t.match(procNetTcp(6, tcp6), [{ family: 6, localAddress: '::ffff:127.0.0.1', localPort: 80, remoteAddress: '::' }]);
  const unix = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 500 /run/a b.sock
0000000000000000: 00000003 00000000 00000000 0001 03 501 /run/a b.sock
0000000000000000: 00000003 00000000 00000000 0001 02     0 /run/a b.sock
0000000000000000: 00000002 00000000 00000000 0002 01 502 @abstract
0000000000000000: 00000003 00000000 00000000 0001 03 503\n`;
  t.match(procNetUnix(unix), [
    { state: 10, inode: 500, name: '/run/a b.sock', type: 1 },
    { state: 1, inode: 501, name: '/run/a b.sock' },
    { state: 1, inode: 0, name: '/run/a b.sock' },
    { state: 1, inode: 503, name: null },
  ]);
});
