import type { AppListen } from '../config/types.js';
import type { SocketKeeper } from '../socket/app-sockets.js';
import { addressText } from '../socket/listen-socket.js';
import { appListenKey, type AdoptionPlan } from './adoption-plan.js';
import { appHttpFdName, appListenFdName } from './fd-names.js';
import type { Notifier } from './notifier.js';

/**
 * The app sockets' side of running under systemd: passed sockets are taken from the adoption plan (once
 * each; later reloads bind afresh), and every socket the gateway binds itself goes to the fd store.
 */
export class StoreKeeper implements SocketKeeper {
  private readonly http: Map<string, number>;
  private readonly listen: Map<string, number>;

  constructor(
    plan: AdoptionPlan,
    private readonly notifier: Notifier,
  ) {
    this.http = new Map([...plan.appHttp].map(([app, s]) => [app, s.fd]));
    this.listen = new Map([...plan.appListen].map(([key, s]) => [key, s.fd]));
  }

  takeHttp(app: string): number | undefined {
    return take(this.http, app);
  }

  takeListen(app: string, entry: AppListen): number | undefined {
    return take(this.listen, appListenKey(app, entry));
  }

  nameHttp(app: string): string {
    return appHttpFdName(app);
  }

  nameListen(app: string, entry: AppListen): string {
    return appListenFdName(app, addressText(entry.address));
  }

  keep(fdName: string, fd: number): void {
    this.notifier.store(fdName, fd);
  }

  drop(fdName: string): void {
    this.notifier.remove(fdName);
  }

  /** Passed sockets no app took (refused apps): theirs to close. */
  untaken(): number[] {
    return [...this.http.values(), ...this.listen.values()];
  }
}

function take(map: Map<string, number>, key: string): number | undefined {
  const fd = map.get(key);
  map.delete(key);
  return fd;
}
