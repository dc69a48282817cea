import type { Lease } from '../activator/generation.js';
import type { AppState } from '../activator/recorder.js';
import type { AppSpec } from '../config/types.js';

/**
 * What the request handler needs of an app: declared here, by its user. AppActivator is one (the front in
 * the gateway's own process); a worker process's mirror of an app the primary runs is the other
 * (src/workers/remote-app.ts).
 */
export interface FrontApp {
  readonly name: string;
  readonly spec: AppSpec;
  readonly state: AppState;
  /** A lease at once, without a Promise, when the request may go now; undefined when it must wait in `acquire`. */
  tryAcquire(): Lease | undefined;
  /** Resolves when the request may be sent; throws a WakegateError the gateway answers with. */
  acquire(): Promise<Lease>;
  readonly record: FrontRecord;
}

/** The part of an app's record the front reads and counts into. */
export interface FrontRecord {
  /** One request routed to the app that neither tryAcquire nor acquire counted (it was not let wake the app). */
  request(): void;
  /** When the current instance's cold start ended (epoch ms), if one did. */
  readonly lastColdStart: { readonly at: number } | undefined;
}
