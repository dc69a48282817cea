import type { AppSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Upstream } from '../upstream/pool.js';
import type { Recorder } from './recorder.js';

/** What an app's activator needs from the gateway; declared by the activator, its only consumer. */
export interface ActivatorDeps {
  /** Asked at every start, so that a reload that changes an app's runtime takes effect at its next start. */
  readonly runtimeFor: (spec: AppSpec) => Runtime;
  /** The app socket fd, handed to every instance as fd 3. */
  readonly socketFd: number;
  /** A pool for one instance of `spec`, with `spec.concurrency` connections. */
  readonly createUpstream: (spec: AppSpec) => Upstream;
  readonly recorder: Recorder;
  readonly log: Logger;
  /** The clock for starts, exits and backoff; Date.now unless a test runs time faster. */
  readonly now?: () => number;
}
