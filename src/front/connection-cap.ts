import { readFileSync } from 'node:fs';
import { DEFAULTS } from '../defaults.js';

/** The soft RLIMIT_NOFILE of this process (Node has no getrlimit); undefined when unlimited or unreadable. */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limits, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * The most client connections the front holds at once, sized so that they cannot take the gateway's last
 * file descriptor. Past it, a new connection is closed at accept and counted. Without such a cap, libuv
 * meets EMFILE by accepting and closing every pending connection (its reserve-fd trick), silently, on every
 * listener at once: the admin API too. Each client connection may hold an upstream connection besides its
 * own, so it costs two fds; the reserve is for the listeners, the app sockets, each instance's pipes and
 * pidfd, the admin's clients and the runtimes' commands.
 */
export function frontConnectionCap(apps: number, limit: number | undefined): number | undefined {
  if (limit === undefined || !Number.isFinite(limit)) return undefined;
  const reserve = DEFAULTS.internal.fdReserve + DEFAULTS.internal.fdReservePerApp * apps;
  return Math.max(1, Math.floor((limit - reserve) / 2));
}
