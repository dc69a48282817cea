/**
 * What the gateway takes from its service manager at start-up: the passed sockets, the notify socket and
 * the watchdog. Outside systemd (no LISTEN_FDS, no NOTIFY_SOCKET) it is empty and the gateway runs as if
 * this file did not exist.
 */
import type { Logger } from '../log.js';
import { takeListenFds, type InheritedSocket } from './listen-fds.js';
import { createNotifier, NullNotifier, type Notifier } from './notifier.js';
import { DEFAULTS } from '../defaults.js';

export interface SystemdService {
  readonly inherited: readonly InheritedSocket[];
  readonly notifier: Notifier;
  /** How often to send WATCHDOG=1; undefined when no watchdog is set for this process. */
  readonly watchdogMs: number | undefined;
}

export const NO_SERVICE: SystemdService = Object.freeze({ inherited: [], notifier: new NullNotifier(), watchdogMs: undefined });

/**
 * Reads (and removes, as sd_listen_fds(unset=1) and sd_watchdog_enabled(unset=1) do) the variables from
 * `env`. Throws InheritedSocketError for unusable passed sockets.
 */
export function systemdService(env: NodeJS.ProcessEnv, log: Logger, pid = process.pid): SystemdService {
  const inherited = takeListenFds(env, pid);
  const notifier = createNotifier(env, log);
  const watchdogMs = watchdogInterval(env.WATCHDOG_USEC, env.WATCHDOG_PID, pid);
  // Nothing the gateway starts may talk to systemd in its name.
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  return { inherited, notifier, watchdogMs };
}

function watchdogInterval(usec: string | undefined, watchdogPid: string | undefined, pid: number): number | undefined {
  if (usec === undefined || !/^[1-9]\d*$/.test(usec)) return undefined;
  if (watchdogPid !== undefined && watchdogPid !== String(pid)) return undefined;
  return Math.max(1, Math.floor((Number(usec) / 1000) * DEFAULTS.internal.watchdogFraction));
}
