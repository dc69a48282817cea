import { rmSync } from 'node:fs';
import type { ListenAddress } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { clearStaleSocket, type BoundAddress } from '../listen.js';
import { closeFd, getSockName, inetListen, unixListen } from '../native/index.js';

/** The front listener the workers share: one socket, one accept queue, held by the primary. */
export interface FrontFd {
  readonly fd: number;
  readonly bound: BoundAddress;
  /** Closes it; a socket file bound here is removed, one passed by systemd (or in its fd store) is kept. */
  close(): void;
}

/**
 * The primary binds the front natively rather than with a net.Server: a Node server would accept on it
 * too. `passed` is the socket systemd handed over (or one bound for its fd store); it is the service
 * manager's, so it is neither closed nor unlinked here.
 */
export async function frontFd(address: ListenAddress, passed: number | undefined): Promise<FrontFd> {
  if (passed !== undefined) return { fd: passed, bound: boundOf(passed, address), close: () => {} };
  if (address.kind === 'tcp') {
    const fd = inetListen(address.host, address.port, DEFAULTS.internal.backlog);
    return { fd, bound: boundOf(fd, address), close: () => closeFd(fd) };
  }
  await clearStaleSocket(address.path);
  const fd = unixListen(address.path, DEFAULTS.internal.backlog);
  return {
    fd,
    bound: { kind: 'unix', path: address.path },
    close: () => {
      closeFd(fd);
      rmSync(address.path, { force: true });
    },
  };
}

function boundOf(fd: number, address: ListenAddress): BoundAddress {
  if (address.kind === 'unix') return { kind: 'unix', path: address.path };
  const name = getSockName(fd);
  return { kind: 'tcp', host: name.address, port: name.port };
}
