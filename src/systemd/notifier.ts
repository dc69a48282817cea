/**
 * sd_notify(3) for the gateway: the state changes systemd's Type=notify needs, and the fd store. Without
 * $NOTIFY_SOCKET (not run by systemd, or NotifyAccess=none) the NullNotifier does nothing at all.
 */
import type { Logger } from '../log.js';
import { errnoName, notify } from '../native/index.js';

/** What the gateway tells its service manager; declared here, where both implementations sit. */
export interface Notifier {
  /** Whether anyone listens: only then are sockets kept for a successor rather than removed at shutdown. */
  readonly active: boolean;
  ready(): void;
  /** SIGHUP received: READY=1 follows once the reload is done, whatever its outcome. */
  reloading(): void;
  stopping(): void;
  /** Sent only when it changed. */
  status(text: string): void;
  watchdog(): void;
  /** FDSTORE=1: systemd keeps a copy of `fd` under `name` and passes it to the next start in LISTEN_FDS. */
  store(name: string, fd: number): void;
  /** FDSTOREREMOVE=1: systemd closes every fd it keeps under `name`. */
  remove(name: string): void;
}

export class NullNotifier implements Notifier {
  readonly active = false;
  ready(): void {}
  reloading(): void {}
  stopping(): void {}
  status(): void {}
  watchdog(): void {}
  store(): void {}
  remove(): void {}
}

export class SocketNotifier implements Notifier {
  readonly active = true;
  private lastStatus: string | undefined;

  constructor(
    private readonly socket: string,
    private readonly log: Logger,
  ) {}

  ready(): void {
    this.send('READY=1');
  }

  reloading(): void {
    // CLOCK_MONOTONIC, which libuv's hrtime reads: systemd 253+ matches it against its own clock.
    this.send(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
  }

  stopping(): void {
    this.send('STOPPING=1');
  }

  status(text: string): void {
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.send(`STATUS=${text.replaceAll('\n', ' ')}`);
  }

  watchdog(): void {
    this.send('WATCHDOG=1');
  }

  store(name: string, fd: number): void {
    this.send(`FDSTORE=1\nFDNAME=${name}`, [fd]);
  }

  remove(name: string): void {
    this.send(`FDSTOREREMOVE=1\nFDNAME=${name}`);
  }

  /** A failed notification is logged and let through: the gateway serves on, systemd decides. */
  private send(message: string, fds: readonly number[] = []): void {
    const r = notify(this.socket, message, fds);
    if (r < 0) this.log.warn({ socket: this.socket, message: message.split('\n')[0], errno: errnoName(-r) }, 'failed to notify the service manager, ignoring');
  }
}

/** From $NOTIFY_SOCKET, which is left in place: instances get an environment of their own. */
export function createNotifier(env: NodeJS.ProcessEnv, log: Logger): Notifier {
  const socket = env.NOTIFY_SOCKET;
  if (!socket || !(socket.startsWith('/') || socket.startsWith('@'))) return new NullNotifier();
  return new SocketNotifier(socket, log.child({ component: 'systemd' }));
}
