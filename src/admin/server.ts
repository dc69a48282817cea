import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AppActivator } from '../activator/app-activator.js';
import type { AppSpec, ListenAddress } from '../config/types.js';
import { type AppSocketError, BadRequestError, ForbiddenError, MethodNotAllowedError, NotFoundError, UnauthorizedError } from '../errors.js';
import { sendError } from '../front/error-response.js';
import { listenOn, type BoundAddress } from '../listen.js';
import type { Logger } from '../log.js';
import { crossSiteProblem } from './cross-site.js';
import { refusedSnapshot, snapshot, type AppSnapshot, type AppSocketView } from './snapshot.js';

/** An app of the config whose sockets were refused (AppRegistry has this shape). */
export interface RefusedApp {
  readonly spec: AppSpec;
  readonly error: AppSocketError;
}

export interface AdminDeps {
  readonly apps: {
    get(name: string): AppActivator | undefined;
    list(): AppActivator[];
    sockets(name: string): readonly AppSocketView[];
    refused(): readonly RefusedApp[];
    refusal(name: string): RefusedApp | undefined;
  };
  /** The Prometheus exposition: content type and text. */
  readonly metrics: () => Promise<{ contentType: string; text: string }>;
  /** How long a drain may wait for in-flight requests. */
  readonly drainMs: () => number;
  readonly token: string | undefined;
  readonly log: Logger;
}

type Route = { method: 'GET' | 'POST'; handle: (app: AppActivator | undefined) => Promise<unknown> };

/**
 * The admin listener: metrics, health, app status and the start/stop/drain actions. With a token set,
 * every request must carry it (`Authorization: Bearer …`); config validation refuses a non-loopback
 * address without one. Without a token, requests a browser could have been made to send from another site
 * are refused (see cross-site.ts): the loopback address alone does not keep web pages out.
 */
export class AdminServer {
  private readonly server: Server;
  private readonly tokenDigest: Buffer | undefined;
  private overUnixSocket = false;

  constructor(private readonly deps: AdminDeps) {
    this.tokenDigest = deps.token === undefined ? undefined : digest(deps.token);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!(err instanceof Error && 'code' in err && String(err.code).startsWith('WG_ERR_'))) deps.log.error({ err }, 'failed to answer admin request');
        sendError(res, err);
      });
    });
  }

  /** `fd`: a socket already listening on `address` (passed by systemd) to serve on instead of binding. */
  listen(address: ListenAddress, fd?: number): Promise<BoundAddress> {
    this.overUnixSocket = address.kind === 'unix';
    return listenOn(this.server, address, (err) => this.deps.log.error({ err }, 'admin listener failed'), fd);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorized(req.headers.authorization)) throw new UnauthorizedError();
    const problem = this.tokenDigest ? undefined : crossSiteProblem(req, this.overUnixSocket);
    if (problem) throw new ForbiddenError(problem);
    const path = targetPath(req.url ?? '/');
    if (path === '/metrics') {
      only(req, 'GET');
      const { contentType, text } = await this.deps.metrics();
      res.writeHead(200, { 'content-type': contentType }).end(text);
      return;
    }
    if (path === '/healthz') return void json(res, 200, (only(req, 'GET'), { status: 'ok' }));
    if (path === '/apps') {
      only(req, 'GET');
      const served = await Promise.all(this.deps.apps.list().map((app) => this.snapshotOf(app)));
      const names = new Set(served.map((a) => a.name));
      const refused = this.deps.apps.refused().filter((r) => !names.has(r.spec.name));
      return void json(res, 200, [...served, ...refused.map((r) => refusedSnapshot(r.spec, r.error))]);
    }
    const match = /^\/apps\/([^/]+)(?:\/(start|stop|drain))?$/.exec(path);
    if (!match) throw new NotFoundError(`path ${path}`);
    const name = decodeSegment(match[1]!);
    const app = this.deps.apps.get(name);
    const route = this.routes[match[2] ?? 'status']!;
    if (!app) {
      // A refused app is shown, but there is nothing to start, stop or drain.
      const refused = this.deps.apps.refusal(name);
      if (!refused || match[2] !== undefined) throw new NotFoundError(`app ${JSON.stringify(name)}`);
      only(req, route.method);
      return void json(res, 200, refusedSnapshot(refused.spec, refused.error));
    }
    only(req, route.method);
    await route.handle(app);
    json(res, match[2] === 'start' ? 202 : 200, await this.snapshotOf(app));
  }

  private snapshotOf(app: AppActivator): Promise<AppSnapshot> {
    return snapshot(app, this.deps.apps.sockets(app.name), this.deps.apps.refusal(app.name)?.error);
  }

  private readonly routes: Record<string, Route> = {
    status: { method: 'GET', handle: async () => undefined },
    // Returns at once: the start goes on, and the answer shows it starting.
    start: { method: 'POST', handle: async (app) => app!.start() },
    stop: { method: 'POST', handle: (app) => app!.stopInstance('stop') },
    drain: { method: 'POST', handle: (app) => app!.drain(this.deps.drainMs()) },
  };

  private authorized(header: string | undefined): boolean {
    if (!this.tokenDigest) return true;
    const match = /^Bearer (.+)$/i.exec(header ?? '');
    // Digests have equal lengths, so the comparison time says nothing about the token.
    return match !== null && timingSafeEqual(digest(match[1]!), this.tokenDigest);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The path of an origin-form target; anything else (absolute-form, `*`) names nothing here. */
function targetPath(target: string): string {
  if (!target.startsWith('/')) throw new BadRequestError('the request target is not a path');
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`malformed percent-encoding in ${JSON.stringify(segment)}`);
  }
}

function only(req: IncomingMessage, method: 'GET' | 'POST'): void {
  if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) throw new MethodNotAllowedError(req.method ?? '?', [method]);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}
