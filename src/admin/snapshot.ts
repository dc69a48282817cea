import type { AppActivator } from '../activator/app-activator.js';
import type { AppSpec } from '../config/types.js';
import type { AppSocketError } from '../errors.js';
import type { BoundAddress } from '../listen.js';
import { addressText } from '../socket/listen-socket.js';

/** What the snapshot shows of one of the app's sockets. */
export interface AppSocketView {
  readonly name: string;
  readonly bound: BoundAddress;
}

/** Why the app's own sockets were refused (WG_ERR_APP_SOCKET), as the error line logged it. */
export interface AppRefusalView {
  readonly code: string;
  readonly address: string;
  readonly problem: string;
  readonly errno: string | null;
  readonly message: string;
}

/** The JSON an operator gets for one app from GET /apps and /apps/:name (documented in the README). */
export interface AppSnapshot {
  readonly name: string;
  readonly state: string;
  /** The runtime in use (`process`, `oci`): the running instance's, else what the next start uses. */
  readonly runtime: string;
  /** The runtime as configured, e.g. `auto`. */
  readonly runtimeConfigured: string;
  readonly hosts: readonly string[];
  /** The apps it wakes with itself and holds up while it runs (dependsOn). */
  readonly dependsOn: readonly string[];
  /** The dependents running now, which keep it from an idle stop: why it is awake besides its own use. */
  readonly heldBy: readonly string[];
  readonly instance: { readonly id: string; readonly pid: number } | null;
  readonly memoryBytes: number | null;
  readonly requests: number;
  readonly inflight: number;
  readonly queued: number;
  /** Connections on the app's own sockets at the last kernel sample (socket mode); 0 while stopped. */
  readonly connections: number;
  /** The sockets its instances get, in fd order, by LISTEN_FDNAMES name and bound address (the real port for port 0). */
  readonly sockets: ReadonlyArray<{ readonly name: string; readonly address: string }>;
  readonly lastColdStart: {
    readonly at: string;
    readonly result: string;
    readonly spawnMs: number | null;
    readonly firstByteMs: number | null;
    /** Socket mode: the first waiting connection to the instance draining its accept queue. */
    readonly acceptMs: number | null;
  } | null;
  readonly lastExit: { readonly at: string; readonly reason: string; readonly code: number | null; readonly signal: string | null } | null;
  /** When the idle stop happens if nothing arrives, and in how many ms; null when no countdown runs. */
  readonly idleStopAt: string | null;
  readonly idleStopInMs: number | null;
  /** Crash-loop backoff left before the next start is allowed; 0 when none. */
  readonly backoffMs: number;
  /**
   * Set when the app's sockets were refused at the last start or reload: the app is then not served
   * (state `refused`), or, refused at a reload, still served on its previous config.
   */
  readonly refused: AppRefusalView | null;
}

export async function snapshot(app: AppActivator, sockets: readonly AppSocketView[] = [], refusal?: AppSocketError): Promise<AppSnapshot> {
  const instance = app.instance;
  const stats = instance ? await instance.stats().catch(() => ({ memoryBytes: null, cpuNs: null })) : { memoryBytes: null, cpuNs: null };
  const cold = app.record.lastColdStart;
  const exit = app.record.lastExitEvent;
  const deadline = app.idleDeadline;
  return {
    name: app.name,
    state: app.state,
    runtime: app.runtime,
    runtimeConfigured: app.spec.runtime,
    hosts: app.spec.hosts,
    dependsOn: app.spec.dependsOn ?? [],
    heldBy: app.heldBy,
    instance: instance ? { id: instance.id, pid: instance.pid } : null,
    memoryBytes: stats.memoryBytes,
    requests: app.record.requests,
    inflight: app.inflight,
    queued: app.queued,
    connections: app.connections,
    sockets: sockets.map((s) => ({ name: s.name, address: addressText(s.bound) })),
    lastColdStart: cold
      ? { at: new Date(cold.at).toISOString(), result: cold.result, spawnMs: cold.spawnMs ?? null, firstByteMs: cold.firstByteMs ?? null, acceptMs: cold.acceptMs ?? null }
      : null,
    lastExit: exit ? { at: new Date(exit.at).toISOString(), reason: exit.reason, code: exit.exit.code, signal: exit.exit.signal } : null,
    idleStopAt: deadline === undefined ? null : new Date(deadline).toISOString(),
    idleStopInMs: deadline === undefined ? null : Math.max(0, deadline - Date.now()),
    backoffMs: app.backoffRemainingMs,
    refused: refusal ? refusalView(refusal) : null,
  };
}

/** An app the config declares but the gateway does not serve, since its sockets were refused. */
export function refusedSnapshot(spec: AppSpec, error: AppSocketError): AppSnapshot {
  return {
    name: spec.name,
    state: 'refused',
    runtime: spec.runtime,
    runtimeConfigured: spec.runtime,
    hosts: spec.hosts,
    dependsOn: spec.dependsOn ?? [],
    heldBy: [],
    instance: null,
    memoryBytes: null,
    requests: 0,
    inflight: 0,
    queued: 0,
    connections: 0,
    sockets: [],
    lastColdStart: null,
    lastExit: null,
    idleStopAt: null,
    idleStopInMs: null,
    backoffMs: 0,
    refused: refusalView(error),
  };
}

function refusalView(error: AppSocketError): AppRefusalView {
  return { code: error.code, address: error.address, problem: error.problem, errno: error.errno ?? null, message: error.message };
}
