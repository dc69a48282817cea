import type { AppSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ChildHandle, SpawnOptions } from '../native/index.js';
import { resolveExecutable } from './executable.js';
import { spawnWithOutput } from './output.js';
import type { HandedSocket } from './runtime.js';

/**
 * Where the child goes before it execs: a cgroup of the gateway's own, or (none given) the gateway's; and
 * its death signal, SIGKILL unless a launcher that must clean up (nspawn) asks for another.
 */
export type Placement = Pick<SpawnOptions, 'cgroupFd' | 'cgroupProcs' | 'deathSignal'>;

/**
 * The app's main process as every runtime that runs it on the host spawns it: the command looked up in
 * `searchPath`, a clean environment (the app's env, PATH and LISTEN_* with LISTEN_PID its own pid), the
 * sockets at fd 3.., the app dir as cwd, its uid/gid, its own session, and PR_SET_PDEATHSIG=SIGKILL.
 */
export function spawnApp(app: AppSpec, sockets: readonly HandedSocket[], searchPath: string, placement: Placement, log: Logger): { child: ChildHandle; output: Promise<unknown> } {
  const file = resolveExecutable(app.command[0]!, app.dir, searchPath);
  const env = { ...app.env, PATH: searchPath };
  return spawnWithOutput(
    file,
    app.command,
    env,
    sockets.map((s) => s.fd),
    { cwd: app.dir, uid: app.uid, gid: app.gid, setsid: true, listenFdNames: sockets.map((s) => s.name), deathSignal: 'SIGKILL', ...placement },
    log,
  );
}
