import { isDeepStrictEqual } from 'node:util';
import { AppActivator } from './activator/app-activator.js';
import type { Recorder } from './activator/recorder.js';
import type { AppSpec, GatewayConfig } from './config/types.js';
import { Router } from './front/router.js';
import type { Logger } from './log.js';
import type { Runtime } from './runtime/runtime.js';
import { AppSocket, type SocketDir } from './upstream/app-socket.js';
import { createUpstream } from './upstream/pool.js';

export interface RegistryDeps {
  readonly runtimeFor: (spec: AppSpec) => Runtime;
  readonly recorder: Recorder;
  readonly log: Logger;
}

interface Entry {
  readonly activator: AppActivator;
  readonly socket: AppSocket;
}

export interface ReloadSummary {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
}

/**
 * The configured apps: each one's socket and activator, and the router over them. `apply` moves from one
 * config to the next: new apps get a socket at once, removed apps are drained and their sockets removed,
 * changed apps keep their instance and use the new spec from their next start.
 */
export class AppRegistry {
  private entries = new Map<string, Entry>();
  private routes = new Router<AppActivator>([]);

  /** `socketDir` is held and emptied of stale sockets by its owner (RuntimeDir), which outlives this registry. */
  constructor(
    private readonly socketDir: SocketDir,
    private readonly deps: RegistryDeps,
  ) {}

  get router(): Router<AppActivator> {
    return this.routes;
  }

  get(name: string): AppActivator | undefined {
    return this.entries.get(name)?.activator;
  }

  list(): AppActivator[] {
    return [...this.entries.values()].map((e) => e.activator);
  }

  socketPath(name: string): string | undefined {
    return this.entries.get(name)?.socket.path;
  }

  /**
   * Switches to `config`. Sockets for new apps are all created before anything changes, so a failure leaves
   * the old apps serving untouched. Removed apps are drained in the background; `removal` settles after.
   */
  apply(config: GatewayConfig, drainMs: number): ReloadSummary & { removal: Promise<void> } {
    const summary: ReloadSummary = { added: [], removed: [], changed: [] };
    const created = new Map<string, AppSocket>();
    try {
      for (const name of Object.keys(config.apps)) {
        if (!this.entries.has(name)) created.set(name, AppSocket.create(this.socketDir, name));
      }
    } catch (err) {
      for (const socket of created.values()) socket.close();
      throw err;
    }
    const next = new Map<string, Entry>();
    for (const [name, spec] of Object.entries(config.apps)) {
      const old = this.entries.get(name);
      if (old) {
        if (!isDeepStrictEqual(old.activator.spec, spec)) {
          old.activator.updateSpec(spec);
          summary.changed.push(name);
        }
        next.set(name, old);
        continue;
      }
      const socket = created.get(name)!;
      const activator = new AppActivator(spec, {
        runtimeFor: this.deps.runtimeFor,
        socketFd: socket.fd,
        createUpstream: (spec) => createUpstream(socket.connectPath, { connections: spec.concurrency }),
        recorder: this.deps.recorder,
        log: this.deps.log.child({ app: name }),
      });
      next.set(name, { activator, socket });
      summary.added.push(name);
    }
    const gone = [...this.entries].filter(([name]) => !next.has(name));
    this.entries = next;
    this.routes = new Router([...next.values()].map((e) => [e.activator.spec.hosts, e.activator] as const));
    summary.removed.push(...gone.map(([name]) => name));
    const removal = Promise.all(gone.map(([, entry]) => this.retire(entry, 'removed', drainMs))).then(() => {});
    return { ...summary, removal };
  }

  /** Drains and stops every app and removes every socket (gateway shutdown). */
  async closeAll(drainMs: number): Promise<void> {
    const all = [...this.entries.values()];
    this.entries = new Map();
    this.routes = new Router([]);
    await Promise.all(all.map((entry) => this.retire(entry, 'shutdown', drainMs)));
  }

  private async retire(entry: Entry, reason: 'removed' | 'shutdown', drainMs: number): Promise<void> {
    await entry.activator.close(reason, drainMs);
    entry.socket.close();
  }
}
