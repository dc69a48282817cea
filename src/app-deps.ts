import type { ActivatorDeps, Dependencies, Room } from './activator/activator-deps.js';
import type { Recorder } from './activator/recorder.js';
import type { Capacity } from './capacity/capacity.js';
import type { AppSpec } from './config/types.js';
import type { DependencyGroups } from './dependency-groups.js';
import type { Logger } from './log.js';
import type { HandedSocket, Runtime } from './runtime/runtime.js';
import type { AppSockets } from './socket/app-sockets.js';
import type { SocketDir } from './upstream/app-socket.js';
import { createUpstream, type Upstream } from './upstream/pool.js';
import type { WakegateError } from './errors.js';

/** What every app's deps share: one object for the whole registry. */
export interface SharedDeps {
  readonly runtimeFor: (spec: AppSpec) => Runtime;
  readonly recorder: Recorder;
  readonly log: Logger;
  readonly socketDir: SocketDir;
  readonly groups: DependencyGroups;
  readonly capacity: Capacity;
  readonly hooks: ((app: string) => Pick<ActivatorDeps, 'confirmIdle' | 'generationFailed'>) | undefined;
}

/**
 * One app's ActivatorDeps, as methods over the registry's shared parts rather than a closure per hook:
 * with 100,000 configured apps, each closure, its context and a pino child per app were most of what an
 * idle app cost. The child logger is made on the first line the app logs (most idle apps never log).
 * Paths are derived when used (a start, a held wake), not kept.
 */
export class AppDeps implements ActivatorDeps {
  #log: Logger | undefined;
  readonly confirmIdle?: (generation: number) => Promise<boolean>;
  readonly generationFailed?: (generation: number, failure: WakegateError) => void;

  constructor(
    readonly name: string,
    private readonly shared: SharedDeps,
    private readonly appSockets: AppSockets,
  ) {
    const hooks = shared.hooks?.(name);
    if (hooks?.confirmIdle) this.confirmIdle = hooks.confirmIdle;
    if (hooks?.generationFailed) this.generationFailed = hooks.generationFailed;
  }

  get log(): Logger {
    return (this.#log ??= this.shared.log.child({ app: this.name }));
  }

  get recorder(): Recorder {
    return this.shared.recorder;
  }

  /** Made per use: a start asks once, and an object per idle app would be kept for nothing. */
  get dependencies(): Dependencies {
    return this.shared.groups.for(this.name);
  }

  get room(): Room {
    return this.shared.capacity.for(this.name);
  }

  /** The HTTP app socket through the held directory, never the on-disk path (see upstream/app-socket.ts). */
  get connectPath(): string {
    return this.shared.socketDir.reach(`${this.name}.sock`);
  }

  runtimeFor(spec: AppSpec): Runtime {
    return this.shared.runtimeFor(spec);
  }

  sockets(): readonly HandedSocket[] {
    return this.appSockets.handed();
  }

  createUpstream(spec: AppSpec): Upstream {
    return createUpstream(this.connectPath, { connections: spec.concurrency });
  }
}
