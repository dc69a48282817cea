/**
 * Errors of the systemd runtime's talk with the service manager over the system bus. Re-exported by
 * errors.ts, the one module callers import.
 */
import { WakegateError } from './wakegate-error.js';

/**
 * `runtime: systemd` cannot work on this host: no system bus to connect to, or no systemd on it. Raised by
 * `wakegate check` and at start-up, before anything is bound; `reason` says which.
 */
export class SystemdUnavailableError extends WakegateError {
  readonly code = 'WG_ERR_SYSTEMD_UNAVAILABLE';
  constructor(
    /** The apps configured with `runtime: systemd`. */
    readonly apps: readonly string[],
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`runtime systemd (apps ${apps.join(', ')}) is unavailable: ${reason}`, options);
  }
}

/**
 * A call to systemd over D-Bus failed, or the job it queued did not end `done`. `dbusName` is the D-Bus
 * error name (`org.freedesktop.DBus.Error.AccessDenied`, `org.freedesktop.systemd1.UnitExists`, ...), or
 * for a failed job `org.freedesktop.systemd1.JobFailed` with the job's result in `detail`.
 */
export class DbusCallError extends WakegateError {
  readonly code = 'WG_ERR_DBUS';
  constructor(
    /** `StartTransientUnit`, `KillUnit`, ... */
    readonly method: string,
    readonly dbusName: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`systemd ${method} failed: ${dbusName}${detail ? ` (${detail})` : ''}`, options);
  }
}
