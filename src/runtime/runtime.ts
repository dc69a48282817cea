import type { AppSpec } from '../config/types.js';
import type { Logger } from '../log.js';

/** How the instance ended. `oom` is set by runtimes that can tell (cgroup OOM kill). */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly oom?: boolean;
}

export interface InstanceStats {
  /** Resident memory of the whole instance in bytes, or null when it cannot be read (already gone). */
  readonly memoryBytes: number | null;
  /** CPU time the whole instance has used, in ns (cgroup; a process without one: its main pid only); null when unreadable. */
  readonly cpuNs: number | null;
}

/** One running instance of an app. */
export interface Instance {
  /** Unique per gateway run, `wakegate-<app>-<n>`; the `instance` key of logs, the container id, the cgroup name. */
  readonly id: string;
  /** The kind of the runtime that made it (`process`, `oci`): what `auto` resolved to. */
  readonly runtime: string;
  readonly pid: number;
  /** Resolves once when the instance has exited and its resources are released. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM, `graceMs` of grace, then SIGKILL; resolves with the exit. Idempotent. */
  stop(graceMs: number): Promise<ExitInfo>;
  stats(): Promise<InstanceStats>;
}

/** A listening socket handed to an instance: its fd in the gateway, and its LISTEN_FDNAMES entry. */
export interface HandedSocket {
  readonly fd: number;
  readonly name: string;
}

/** Declared by the activator, which is the only caller. `sockets` are what the instance gets at fd 3, 4, ... */
export interface Runtime {
  readonly kind: string;
  start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance>;
}

/** Describes an exit for logs and error messages: `code 1`, `signal SIGKILL`, `oom`. */
export function describeExit(exit: ExitInfo): string {
  if (exit.oom) return 'oom';
  if (exit.signal) return `signal ${exit.signal}`;
  return `code ${exit.code ?? '?'}`;
}
