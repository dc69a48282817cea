import { lstatSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { ListenAddress } from './config/types.js';
import { DEFAULTS } from './defaults.js';
import { SocketPathTakenError } from './errors.js';
import { removeStaleSocket } from './runtime/dirs.js';

/** A bound listener's address: host and port for TCP, the path for a Unix socket. */
export type BoundAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/**
 * Binds `server` to a configured address, or serves on `fd`, a socket already listening on it (passed by
 * systemd); resolves with what it is bound to (port 0 becomes the real port).
 */
export async function listenOn(server: Server, address: ListenAddress, onError: (err: Error) => void, fd?: number): Promise<BoundAddress> {
  if (address.kind === 'unix' && fd === undefined) await clearStaleSocket(address.path);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      server.on('error', onError);
      // Node knows no path for a Unix socket it was handed by fd (address() is null): it is the configured one.
      const bound = server.address() as AddressInfo | string | null;
      if (bound === null || typeof bound === 'string') resolve({ kind: 'unix', path: bound ?? (address.kind === 'unix' ? address.path : '') });
      else resolve({ kind: 'tcp', host: bound.address, port: bound.port });
    };
    // Node's listen(2) on an adopted socket sets its backlog again: the same one, not Node's 511.
    if (fd !== undefined) {
      server.listen({ fd, backlog: DEFAULTS.internal.backlog }, done);
    } else if (address.kind === 'unix') {
      server.listen({ path: address.path, backlog: DEFAULTS.internal.backlog }, done);
    } else {
      server.listen({ host: address.host, port: address.port, backlog: DEFAULTS.internal.backlog }, done);
    }
  });
}

/**
 * A socket file left by a process that died would make bind fail with EADDRINUSE, so it is removed; but
 * only a stale one. The path is the user's choice, outside runtimeDir and its lock: anything that is not a
 * socket is refused and left intact, and so is a socket that some process (another gateway's admin
 * listener, say) still accepts on, which a connect tells apart from a dead one (ECONNREFUSED).
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (isSocket) {
    const result = await probe(path);
    if (result === 'connected' || result === 'EAGAIN') throw new SocketPathTakenError(path, 'socket in use');
    if (result !== 'ECONNREFUSED' && result !== 'ENOENT') throw new SocketPathTakenError(path, `socket that cannot be probed (${result})`);
  }
  removeStaleSocket(path);
}

/** `connected`, or the connect error's code. */
function probe(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}
