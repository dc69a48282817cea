import type { GatewayConfig } from '../config/types.js';
import { TrustedProxies } from '../front/forwarded.js';
import { HttpListener } from '../front/http-listener.js';
import { RequestHandler } from '../front/request-handler.js';
import { Router } from '../front/router.js';
import { frontConnectionCap, openFileLimit } from '../front/connection-cap.js';
import type { BoundAddress } from '../listen.js';
import type { Logger } from '../log.js';
import { REQUEST_BUCKETS, RequestTally } from '../metrics/request-tally.js';
import { fromWire, type AppMirror, type FromWorker, type ToWorker } from './protocol.js';
import { RemoteApp, type PrimaryLink } from './remote-app.js';
import { RemoteNavigations } from './remote-navigations.js';
import { snapshot } from './tally-merge.js';

/** The fds a worker inherits from the primary (after stdin, stdout, stderr and the IPC channel at 3). */
export const FRONT_FD = 4;
export const APPS_FD = 5;

type Init = Extract<ToWorker, { t: 'init' }>;

/**
 * One worker process's front: the same HttpListener and RequestHandler as the gateway's own, accepting on
 * the front socket the primary holds (one shared accept queue), routing to RemoteApps that mirror the
 * primary's activators. It owns no app state: it forgets nothing the primary needs when it dies.
 */
export class WorkerFront {
  private apps = new Map<string, RemoteApp>();
  /** Apps a reload removed: their requests in flight still learn how the instance ended (its drain, its stop). */
  private readonly removed = new Map<string, RemoteApp>();
  private routes = new Router<RemoteApp>([]);
  private config: GatewayConfig;
  private trusted: TrustedProxies;
  private readonly tally = new RequestTally(REQUEST_BUCKETS);
  private readonly refused: Record<string, number> = {};
  private readonly asked = new Map<number, { readonly app: string; resolve(generation: number | undefined): void; reject(err: Error): void }>();
  private nextId = 0;
  private readonly listener: HttpListener;
  private readonly link: PrimaryLink;
  private readonly workers: number;
  private readonly navigations: RemoteNavigations;

  constructor(
    init: Init,
    private readonly send: (message: FromWorker) => void,
    private readonly log: Logger,
  ) {
    this.config = init.config;
    this.workers = init.workers;
    this.trusted = new TrustedProxies(init.config.trustedProxies);
    this.link = {
      acquire: (app) =>
        new Promise((resolve, reject) => {
          const id = ++this.nextId;
          this.asked.set(id, { app, resolve, reject });
          this.send({ t: 'acquire', id, app });
        }),
      report: (event, app, generation) => this.send({ t: event, app, generation }),
    };
    this.setApps(init.apps);
    for (const app of init.parked) this.apps.get(app)?.park();
    this.navigations = new RemoteNavigations((name) => this.apps.get(name), send);
    const handler = new RequestHandler({
      router: () => this.routes,
      trusted: () => this.trusted,
      log: log.child({ component: 'front' }),
      logRequests: () => this.config.log.requests,
      recordRequest: (app, status, seconds) => this.tally.add(app, status, seconds, app !== ''),
      sendTimeoutMs: init.config.limits.sendTimeoutMs,
      navigations: this.navigations,
    });
    const guard = {
      // A worker holds no app socket and no instance: its fds are its connections, each with its upstream one.
      maxConnections: frontConnectionCap(openFileLimit(), 0),
      refused: (reason: string, count: number) => (this.refused[reason] = (this.refused[reason] ?? 0) + count),
    };
    this.listener = new HttpListener(handler, log.child({ component: 'front' }), init.config.limits, guard);
  }

  /** Accepts on the inherited front socket. */
  listen(): Promise<BoundAddress> {
    return this.listener.listen(this.config.listen.http, FRONT_FD);
  }

  /** Stops accepting and lets in-flight requests finish within `graceMs`, as the gateway's own front does. */
  close(graceMs: number): Promise<void> {
    return this.listener.close(graceMs);
  }

  onMessage(message: ToWorker): void {
    switch (message.t) {
      case 'apps':
        this.config = message.config;
        this.trusted = new TrustedProxies(message.config.trustedProxies);
        this.log.level = message.config.log.level;
        return this.setApps(message.apps);
      case 'state':
        return this.apps.get(message.app)?.update(message.mirror);
      case 'failed':
        return (this.apps.get(message.app) ?? this.removed.get(message.app))?.failed(message.generation, fromWire(message.error, message.app));
      case 'granted':
      case 'refused': {
        const asked = this.asked.get(message.id);
        if (!asked) return;
        this.asked.delete(message.id);
        return message.t === 'granted' ? asked.resolve(message.generation) : asked.reject(fromWire(message.error, asked.app));
      }
      case 'woken':
        return this.navigations.woken(message.id, message.woken);
      case 'park':
        return this.send({ t: 'parked', id: message.id, quiet: this.apps.get(message.app)?.park() ?? true });
      case 'unpark':
        return this.apps.get(message.app)?.unpark();
      case 'tally':
        return this.send({ t: 'tally', id: message.id, tally: snapshot(this.tally, this.refused) });
      case 'ping':
        return this.send({ t: 'pong', id: message.id });
      default:
        return undefined;
    }
  }

  /** The apps of the config as the primary serves them; those missing are removed (in-flight requests finish). */
  private setApps(mirrors: readonly AppMirror[]): void {
    const next = new Map<string, RemoteApp>();
    for (const mirror of mirrors) {
      const old = this.apps.get(mirror.spec.name);
      if (old) old.update(mirror);
      next.set(mirror.spec.name, old ?? new RemoteApp(mirror, this.workers, this.link, (app) => `/proc/self/fd/${APPS_FD}/${app}.sock`));
      this.removed.delete(mirror.spec.name);
    }
    for (const [name, app] of this.apps) {
      if (next.has(name)) continue;
      app.close('removed');
      this.removed.set(name, app);
    }
    this.apps = next;
    this.routes = new Router([...next.values()].map((app) => [app.spec.hosts, app] as const));
  }
}
