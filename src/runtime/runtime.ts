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
  /**
   * Leaves the instance running for the next gateway: from now on its exit is not acted on. Only instances
   * that do not die with the gateway have it (their runtime has `survivors`).
   */
  detach?(): void;
  /**
   * Stops every process of the instance in place (cgroup freezer, `runc pause`): it uses no CPU until
   * thawed, and keeps its memory and sockets. Only runtimes that can freeze have it; the activator treats
   * its absence as "never freeze". Rejects when the freeze did not complete (the instance then still runs).
   */
  freeze?(): Promise<void>;
  /** Lets a frozen instance run again. A stop of a frozen instance thaws it itself (a signal waits for the thaw). */
  thaw?(): Promise<void>;
}

/** An instance a previous gateway left running, as a runtime whose instances outlive the gateway finds it. */
export interface Survivor {
  readonly app: string;
  readonly id: string;
  /** specDigest() of the spec it was started with. */
  readonly digest: string;
  readonly pid: number;
  /** Watches it from now on as one of this gateway's instances (to serve it, or to stop it). Throws if it is gone. */
  adopt(log: Logger): Instance;
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
  /** For runtimes whose instances outlive the gateway: the ones a previous gateway left running. */
  survivors?(log: Logger): Promise<Survivor[]>;
  /** Whether the gateway stops only to be started again (`systemctl restart`): its instances then stay for the next. */
  handingOver?(): Promise<boolean>;
}

/** Describes an exit for logs and error messages: `code 1`, `signal SIGKILL`, `oom`. */
export function describeExit(exit: ExitInfo): string {
  if (exit.oom) return 'oom';
  if (exit.signal) return `signal ${exit.signal}`;
  return `code ${exit.code ?? '?'}`;
}
