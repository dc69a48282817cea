import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from './config/types.js';
import { DEFAULTS } from './defaults.js';

/** A bound listener's address: host and port for TCP, the path for a Unix socket. */
export type BoundAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/** Binds `server` to a configured address; resolves with what it is bound to (port 0 becomes the real port). */
export function listenOn(server: Server, address: ListenAddress, onError: (err: Error) => void): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      server.on('error', onError);
      const bound = server.address() as AddressInfo | string;
      resolve(typeof bound === 'string' ? { kind: 'unix', path: bound } : { kind: 'tcp', host: bound.address, port: bound.port });
    };
    if (address.kind === 'unix') {
      // A socket file left by a gateway that died would make bind fail with EADDRINUSE.
      rmSync(address.path, { force: true });
      server.listen({ path: address.path, backlog: DEFAULTS.internal.backlog }, done);
    } else {
      server.listen({ host: address.host, port: address.port, backlog: DEFAULTS.internal.backlog }, done);
    }
  });
}
