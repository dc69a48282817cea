import type { ListenAddress } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { clearStaleSocket } from '../listen.js';
import { inetListen, unixListen } from '../native/index.js';
import type { InheritedSocket } from './listen-fds.js';
import type { Notifier } from './notifier.js';

/**
 * The fd a front listener (`http`, `admin`) is to serve on: the one passed (a socket unit's, or the fd
 * store's from the previous run), or, under a service manager, one bound here and stored under `name`,
 * so that its queue outlives this gateway. Undefined outside systemd: the listener binds as it always did.
 * A Unix socket bound here is bound natively, not by Node, whose close would unlink the path a successor
 * adopts the socket by.
 */
export async function frontSocket(name: 'http' | 'admin', address: ListenAddress, passed: InheritedSocket | undefined, notifier: Notifier): Promise<number | undefined> {
  if (passed) return passed.fd;
  if (!notifier.active) return undefined;
  let fd: number;
  if (address.kind === 'unix') {
    await clearStaleSocket(address.path);
    fd = unixListen(address.path, DEFAULTS.internal.backlog);
  } else {
    fd = inetListen(address.host, address.port, DEFAULTS.internal.backlog);
  }
  notifier.store(name, fd);
  return fd;
}
