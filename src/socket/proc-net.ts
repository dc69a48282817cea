/**
 * The fallback when sock_diag is unavailable (EPERM under some seccomp or LSM policies, a kernel built
 * without inet_diag/unix_diag): /proc/net/{tcp,tcp6,unix} of the gateway's network namespace, parsed
 * into the same rows. What these files cannot tell:
 * - no byte counters (bytesAcked/bytesReceived are null), so "bytes still move" is unknown for TCP too;
 * - no peer of a Unix socket, so the gateway's own connections cannot be told apart there;
 * - no bound file of a Unix socket: matching is by name only, so another socket bound to the same path
 *   string (a stale one, or a relative path elsewhere) is counted with it;
 * - a Unix path containing a newline breaks its line; a local user could forge rows that way (which can
 *   only make an app look busier, never cut a connection).
 */
import { readFileSync } from 'node:fs';
import { formatIPv4, formatIPv6 } from './inet-address.js';
import { TCP_DATA_STATES, TCP_LISTEN, type TcpSocketRow } from './inet-diag.js';
import { littleEndian } from './netlink-message.js';
import { UNIX_ESTABLISHED, UNIX_LISTEN, type UnixSocketRow } from './unix-diag.js';

const SO_ACCEPTCON = 0x10000;
const SS_CONNECTING = 2;
const SS_CONNECTED = 3;

/** Rows of /proc/net/tcp (family 4) or tcp6 in the states inet_diag would have dumped. */
export function procNetTcp(family: 4 | 6, text = readFileSync(family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6', 'latin1')): TcpSocketRow[] {
  const rows: TcpSocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const state = parseInt(f[3]!, 16);
    if (state !== TCP_LISTEN && !TCP_DATA_STATES.has(state)) continue;
    const local = endpoint(f[1]!, family);
    const remote = endpoint(f[2]!, family);
    const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16));
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isSafeInteger(inode)) continue;
    rows.push({
      family,
      state,
      localAddress: local.address,
      localPort: local.port,
      remoteAddress: remote.address,
      remotePort: remote.port,
      inode,
      rqueue: rx ?? 0,
      wqueue: tx ?? 0,
      bytesAcked: null,
      bytesReceived: null,
    });
  }
  return rows;
}

/** "0100007F:1F90": the address is printed as host-order 32-bit words, the port as a number. */
function endpoint(text: string, family: 4 | 6): { address: string; port: number } | undefined {
  const [hex, portHex] = text.split(':');
  if (hex === undefined || portHex === undefined || hex.length !== (family === 4 ? 8 : 32)) return undefined;
  const bytes = Buffer.alloc(hex.length / 2);
  for (let i = 0; i < bytes.length / 4; i++) {
    const word = parseInt(hex.slice(8 * i, 8 * i + 8), 16);
    if (littleEndian) bytes.writeUInt32LE(word, 4 * i);
    else bytes.writeUInt32BE(word, 4 * i);
  }
  return { address: family === 4 ? formatIPv4(bytes, 0) : formatIPv6(bytes, 0), port: parseInt(portHex, 16) };
}

const UNIX_LINE = /^\s*[0-9a-fA-F]+: [0-9a-fA-F]+ [0-9a-fA-F]+ ([0-9a-fA-F]+) ([0-9a-fA-F]+) ([0-9a-fA-F]+)\s+(\d+)(?: (.*))?$/;

/**
 * Rows of /proc/net/unix for listeners and connected sockets. A connection still waiting in a
 * listener's queue is listed too (inode 0, state SS_CONNECTING, with the listener's path), which is
 * how the accept-queue length is found here without sock_diag.
 */
export function procNetUnix(text = readFileSync('/proc/net/unix', 'latin1')): UnixSocketRow[] {
  const rows: UnixSocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const m = UNIX_LINE.exec(line);
    if (!m) continue;
    const flags = parseInt(m[1]!, 16);
    const st = parseInt(m[3]!, 16);
    const listening = (flags & SO_ACCEPTCON) !== 0;
    if (!listening && st !== SS_CONNECTED && st !== SS_CONNECTING) continue;
    rows.push({
      type: parseInt(m[2]!, 16),
      state: listening ? UNIX_LISTEN : UNIX_ESTABLISHED,
      inode: Number(m[4]),
      name: m[5] ?? null,
      file: null,
      peer: null,
      rqueue: null,
      wqueue: null,
      shutdown: 0,
    });
  }
  return rows;
}
