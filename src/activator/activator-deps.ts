import type { AppSpec } from '../config/types.js';
import type { DependencyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HandedSocket, Runtime } from '../runtime/runtime.js';
import type { WakegateError } from '../errors.js';
import type { Upstream } from '../upstream/pool.js';
import type { Recorder } from './recorder.js';

/** What an app's activator needs from the gateway; declared by the activator, its only consumer. */
export interface ActivatorDeps {
  /** Asked at every start, so that a reload that changes an app's runtime takes effect at its next start. */
  readonly runtimeFor: (spec: AppSpec) => Runtime;
  /** The app's sockets, handed to the instance at fd 3, 4, ...; asked at every start, so a reload's take effect at the next. */
  readonly sockets: () => readonly HandedSocket[];
  /** A pool for one instance of `spec`, with `spec.concurrency` connections. */
  readonly createUpstream: (spec: AppSpec) => Upstream;
  readonly recorder: Recorder;
  readonly log: Logger;
  /**
   * Requests may be in flight where the activator cannot see them (worker processes): asked when the idle
   * countdown of generation `generation` ends, before the stop; false keeps the instance up (the countdown
   * starts again once it is quiet here). Absent: the countdown alone decides.
   */
  readonly confirmIdle?: (generation: number) => Promise<boolean>;
  /** The requests of generation `generation` must fail with `failure` (exit, failed start, timeout): told to those who hold them elsewhere. */
  readonly generationFailed?: (generation: number, failure: WakegateError) => void;
  /** The clock for starts, exits and backoff; Date.now unless a test runs time faster. */
  readonly now?: () => number;
  /** The apps this one depends on (dependsOn), asked before every start, however it was asked for. */
  readonly dependencies?: Dependencies;
  /** Room for one more instance (capacity), asked before every start; absent: no limit. */
  readonly room?: Room;
}

/** What a start needs of the host's capacity. */
export interface Room {
  /**
   * Undefined: start now. A promise: room is being made (an instance evicted); ask again once it settles.
   * An error: no room can be made now.
   */
  claim(): Promise<void> | WakegateError | undefined;
}

/** What an app's start needs of the apps it depends on; absent for an app without any. */
export interface Dependencies {
  /** Why no start may happen now (a dependency in backoff, or not served), else undefined. */
  blocked(): DependencyError | undefined;
  /** Wakes them all at once, just before the app's own start: their sockets already listen, so no order is needed. */
  wake(): void;
}

/** What the kernel shows of an app's sockets, sampled from outside the data path. */
export interface ActivitySample {
  /** Accepted connections on the app's sockets that an instance holds. */
  readonly connections: number;
  /** Bytes moved (or CPU used) since the previous sample: the app is in use. */
  readonly busy: boolean;
}
