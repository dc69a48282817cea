import type { AppSpec } from '../config/types.js';
import { containerUser } from './bundle.js';
import { DEFAULT_PATH } from './executable.js';
// Registered containers' scopes go with the systemd runtime's tenants.
import { TENANT_SLICE } from './systemd.js';

/** How one instance's container is laid out: its machine name, and the root it runs in. */
export interface NspawnLayout {
  readonly machine: string;
  /** The root directory: a generated empty one (`hostRoot`), or the user's `nspawn.directory`. */
  readonly directory: string;
  /** True for the generated root, which gets the host's /usr and /etc bound read-only. */
  readonly hostRoot: boolean;
  readonly fdNames: readonly string[];
  /** Registered with machined (the host has it): the container gets machined's scope, with the app's limits. */
  readonly registered: boolean;
}

/** Where the container's user drop lives; it must exist in a user-supplied root as well. */
export const SETPRIV = '/usr/bin/setpriv';

/**
 * The argv of `systemd-nspawn` for one instance. Choices, from nspawn 252 on a host without systemd:
 * - The app runs as the container's PID 1 (no `--as-pid2`): nspawn forwards the sockets it inherits
 *   (LISTEN_FDS, fd 3..) and sets LISTEN_PID=1, which is then right; with `--as-pid2` the payload is pid
 *   2 but still sees LISTEN_PID=1, and the stub init did not end a gunicorn payload on SIGTERM.
 *   nspawn drops LISTEN_FDNAMES, so the names go in with `--setenv`. `--kill-signal=SIGTERM` makes a
 *   SIGTERM to nspawn reach the app (by default nspawn SIGKILLs a container it did not boot).
 * - No `--user`: nspawn resolves it in the container's passwd and creates the home directory, which a
 *   read-only root refuses; setpriv (util-linux, in the host's /usr) drops to the numeric ids instead,
 *   as the oci runtime does, and clears every capability.
 * - Where machined is on the system bus (systemd is PID 1): `--register=yes` without `--keep-unit`, so
 *   machined makes `machine-<name>.scope` under wakegate.slice for the container (nspawn itself stays in
 *   the instance cgroup) and the app's limits go on it with `--property=` (nspawn sets them only on a
 *   scope it has machined make). Elsewhere `--register=no --keep-unit`: registering fails there ("Failed
 *   to open system bus"), and nspawn and its container stay in the instance cgroup, unlimited.
 */
export function nspawnArgs(app: AppSpec, layout: NspawnLayout): string[] {
  if (app.dir.includes(':')) throw new Error(`the nspawn runtime cannot bind an app dir whose path holds ':' (${app.dir})`);
  const { uid, gid } = containerUser(app);
  const env = { PATH: DEFAULT_PATH, ...app.env, LISTEN_FDNAMES: layout.fdNames.join(':') };
  return [
    '--quiet',
    `--directory=${layout.directory}`,
    '--read-only',
    `--machine=${layout.machine}`,
    ...(layout.registered ? ['--register=yes', `--slice=${TENANT_SLICE}`, ...limitProperties(app)] : ['--register=no', '--keep-unit']),
    '--link-journal=no',
    '--private-network',
    '--console=pipe',
    '--kill-signal=SIGTERM',
    ...(layout.hostRoot ? ['--bind-ro=/usr', '--bind-ro=/etc'] : []),
    `--bind-ro=${app.dir}:/app`,
    '--chdir=/app',
    ...Object.entries(env).map(([name, value]) => `--setenv=${name}=${value}`),
    '--',
    SETPRIV,
    `--reuid=${uid}`,
    `--regid=${gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
    ...app.command,
  ];
}

/** The app's limits as the scope's properties, as the systemd runtime sets them on its scopes (no swap). */
export function limitProperties(app: AppSpec): string[] {
  const props: string[] = [];
  if (app.memoryBytes !== undefined) props.push(`MemoryMax=${app.memoryBytes}`, 'MemorySwapMax=0');
  if (app.pids !== undefined) props.push(`TasksMax=${app.pids}`);
  if (app.cpuWeight !== undefined) props.push(`CPUWeight=${app.cpuWeight}`);
  return props.map((p) => `--property=${p}`);
}
