import { rmSync } from 'node:fs';
import { DEFAULTS } from '../defaults.js';
import { SyscallError } from '../errors.js';
import { closeFd, unixListen } from '../native/index.js';
import { removeStaleSocket } from '../runtime/dirs.js';

/** The directory app sockets live in, as its consumer needs it: where it shows on disk, and how to reach an entry of it. */
export interface SocketDir {
  /** `<runtimeDir>/apps`: for a front proxy of the user's own (nginx) and for the admin and status output. */
  readonly path: string;
  /** A path to `name` inside the directory the gateway checked and holds open, whatever its on-disk path names now. */
  reach(name: string): string;
  /** socketGroup: the gid whose members may connect to the sockets (0660); absent, the gateway's uid alone (0600). */
  readonly group?: number;
}

/**
 * The listening Unix socket of one app, held by the gateway for as long as the app is configured. The
 * gateway never accepts on it: connections wait in its backlog until an instance (which inherits it as
 * fd 3) accepts them. That is what makes a cold start lose nothing.
 *
 * It is bound, and later connected to, through `connectPath`, `/proc/self/fd/<apps dir fd>/<app>.sock`,
 * never through `path`. The kernel resolves that name through the directory inode the gateway holds, so a
 * later rename of `apps/` (or of anything above it) and a look-alike socket put at the old path cannot
 * receive the gateway's connections. Connecting to the held listening socket itself is not possible
 * (connect needs an address, and the socket's inode is only reachable by name), and an O_PATH fd per
 * socket would cost one fd per app for the same guarantee; one held directory serves every app, and
 * keeps the name short of sun_path's 108 bytes whatever the runtimeDir. The native bind and undici's
 * `socketPath` both take a path, which this is.
 */
export class AppSocket {
  // The paths are made when asked for, from the shared directory: stored, path.join's result was a tree of
  // seven rope strings per app with its own copy of every segment (about 350 bytes per configured app).
  private constructor(
    private readonly dir: SocketDir,
    private readonly app: string,
    readonly fd: number,
  ) {}

  get path(): string {
    return `${this.dir.path}/${this.app}.sock`;
  }

  get connectPath(): string {
    return this.dir.reach(`${this.app}.sock`);
  }

  /**
   * A stale socket at the path is replaced (the held runtimeDir lock means no other gateway owns it);
   * anything else there is refused with SocketPathTakenError and left alone. The socket is made 0600, or
   * 0660 with the directory's group: connect(2) needs write permission on the socket file.
   */
  static create(dir: SocketDir, app: string): AppSocket {
    const name = `${app}.sock`;
    const path = `${dir.path}/${name}`;
    const connectPath = dir.reach(name);
    // Group and mode are set between bind and listen (see unixListen): no client connects before.
    const access = dir.group === undefined ? { mode: 0o600 } : { mode: 0o660, gid: dir.group };
    let fd: number;
    try {
      try {
        fd = unixListen(connectPath, DEFAULTS.internal.backlog, access);
      } catch (err) {
        // Bind first, look only when the name is taken: the directory was emptied at start-up, so at
        // 100,000 apps this spares 100,000 lstat calls that would find nothing.
        if (!(err instanceof SyscallError) || err.errno !== 'EADDRINUSE') throw err;
        removeStaleSocket(connectPath, path);
        fd = unixListen(connectPath, DEFAULTS.internal.backlog, access);
      }
    } catch (err) {
      // Name the socket as operators know it; the /proc path alone says nothing.
      if (err instanceof SyscallError) throw new SyscallError(err.syscall, err.errno, err.errnoNumber, `${path}, bound as ${connectPath}`);
      throw err;
    }
    return new AppSocket(dir, app, fd);
  }

  /**
   * The app socket a previous gateway held, passed back by the service manager: `fd` is the listening
   * socket whose file is `<dir>/<app>.sock` (the caller has checked the inode). Nothing is bound or changed.
   */
  static adopt(dir: SocketDir, app: string, fd: number): AppSocket {
    return new AppSocket(dir, app, fd);
  }

  /** `keepFile`: the socket lives on in the service manager's fd store, and its successor connects by this path. */
  close(keepFile = false): void {
    closeFd(this.fd);
    if (!keepFile) rmSync(this.connectPath, { force: true });
  }
}
