import { DbusCallError, SystemdUnavailableError } from '../dbus-errors.js';
import type { Logger } from '../log.js';
import { SystemdManager } from './systemd-manager.js';

const NOT_ON_BUS = new Set(['org.freedesktop.DBus.Error.ServiceUnknown', 'org.freedesktop.DBus.Error.NameHasNoOwner']);

/** The system bus address dbus-next connects to, for the message: the variable, or the well-known path. */
function busAddress(): string {
  return process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/var/run/dbus/system_bus_socket';
}

/**
 * Connects to systemd over the system bus for the apps on `runtime: systemd`, or says why that cannot
 * work here: no bus to connect to, or a bus without systemd on it (a container without an init).
 */
export async function connectSystemd(apps: readonly string[], log: Logger): Promise<SystemdManager> {
  try {
    return await SystemdManager.connect(log);
  } catch (err) {
    // Debian's bus answers with a failed activation: its org.freedesktop.systemd1 service file runs /bin/false.
    if (err instanceof DbusCallError && (NOT_ON_BUS.has(err.dbusName) || err.dbusName.startsWith('org.freedesktop.DBus.Error.Spawn.'))) {
      throw new SystemdUnavailableError(apps, `systemd is not on the system bus at ${busAddress()} (${err.dbusName}); is systemd PID 1?`, { cause: err });
    }
    if (err instanceof DbusCallError) throw new SystemdUnavailableError(apps, `systemd refused the subscription: ${err.message}`, { cause: err });
    const why = err instanceof Error ? err.message : String(err);
    throw new SystemdUnavailableError(apps, `cannot connect to the system bus at ${busAddress()}: ${why}`, { cause: err });
  }
}

/** The names of the apps that run on systemd. */
export function systemdApps(apps: Readonly<Record<string, { readonly runtime: string }>>): string[] {
  return Object.entries(apps).filter(([, spec]) => spec.runtime === 'systemd').map(([name]) => name);
}
