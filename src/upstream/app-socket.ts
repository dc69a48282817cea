import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../defaults.js';
import { closeFd, unixListen } from '../native/index.js';


/**
 * The listening Unix socket of one app, held by the gateway for as long as the app is configured. The
 * gateway never accepts on it: connections wait in its backlog until an instance (which inherits it as
 * fd 3) accepts them. That is what makes a cold start lose nothing.
 */
export class AppSocket {
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /** `dir` must already exist with mode 0700; the socket itself is made 0600. */
  static create(dir: string, app: string): AppSocket {
    const path = join(dir, `${app}.sock`);
    rmSync(path, { force: true });
    const fd = unixListen(path, DEFAULTS.internal.backlog);
    try {
      chmodSync(path, 0o600);
    } catch (err) {
      closeFd(fd);
      throw err;
    }
    return new AppSocket(path, fd);
  }

  close(): void {
    closeFd(this.fd);
    rmSync(this.path, { force: true });
  }
}
