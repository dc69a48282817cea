import { DEFAULTS } from './defaults.js';
import type { Logger } from './log.js';

/** What the signals drive once the gateway runs. */
export interface Controlled {
  readonly log: Logger;
  reload(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * The signals of `wakegate run`, installed before anything else happens: a SIGHUP's default action is to
 * end the process, so one that arrives while the config loads or the listeners bind would kill the
 * gateway. What arrives before the gateway runs is kept and acted on once it does: a reload is applied
 * (the file may have changed since it was read), a stop shuts the fresh gateway down. During a shutdown a
 * reload is refused, since it could add apps whose sockets the shutdown is removing.
 */
export class RunSignals {
  /** The exit code of the run: 0 after a clean shutdown, 1 after a second stop signal. */
  readonly done: Promise<number>;
  private resolve!: (code: number) => void;
  private target: Controlled | undefined;
  private reloadQueued = false;
  private reloading = Promise.resolve();
  private stopAt: number | undefined;

  constructor() {
    this.done = new Promise((resolve) => (this.resolve = resolve));
    process.on('SIGHUP', () => this.onReload());
    process.on('SIGTERM', () => this.onStop('SIGTERM'));
    process.on('SIGINT', () => this.onStop('SIGINT'));
  }

  /** The gateway runs: from now on the signals act on `target`, starting with those that came early. */
  attach(target: Controlled): void {
    this.target = target;
    if (this.stopAt !== undefined) {
      target.log.info('received a stop signal during start-up, shutting down');
      this.shutdown(target);
    } else if (this.reloadQueued) {
      target.log.info('received SIGHUP during start-up, reloading now');
      this.reload(target);
    }
  }

  private onReload(): void {
    if (this.stopAt !== undefined) return void this.target?.log.warn('reload refused: the gateway is shutting down');
    if (this.target) this.reload(this.target);
    else this.reloadQueued = true;
  }

  private onStop(signal: NodeJS.Signals): void {
    const now = performance.now();
    if (this.stopAt !== undefined) {
      // Ctrl-C on `npm start` reaches the gateway twice: from the terminal, and forwarded by npm.
      if (now - this.stopAt < DEFAULTS.internal.signalDedupMs) return;
      // A second signal means "now": instances die with us through their parent-death signal.
      this.target?.log.warn({ signal }, 'second signal, exiting without waiting');
      return this.resolve(1);
    }
    this.stopAt = now;
    if (this.target) {
      this.target.log.info({ signal }, 'received signal');
      this.shutdown(this.target);
    }
  }

  private reload(target: Controlled): void {
    this.reloading = this.reloading.then(() => target.reload());
  }

  private shutdown(target: Controlled): void {
    void target.shutdown().then(() => this.resolve(0));
  }
}
