import type { AppSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import { spawn, spawnHeld, type ChildHandle, type HeldChildHandle, type SpawnOptions } from '../native/index.js';
import { resolveExecutable } from './executable.js';
import { startWithOutput, type OutputSink } from './output.js';
import type { HandedSocket } from './runtime.js';

/**
 * Where the child goes before it execs: a cgroup of the gateway's own, or (none given) the gateway's; and
 * its death signal, SIGKILL unless a launcher that must clean up (nspawn) asks for another, or null for
 * none (a tenant that must outlive the gateway: its own unit holds it).
 */
export type Placement = Pick<SpawnOptions, 'cgroupFd' | 'cgroupProcs' | 'deathSignal'>;

type Spawner<C extends ChildHandle> = (file: string, argv: readonly string[], env: Readonly<Record<string, string>>, fds: readonly number[], opts: SpawnOptions) => C;

/**
 * The app's main process as every runtime that runs it on the host spawns it: the command looked up in
 * `searchPath`, a clean environment (the app's env, PATH and LISTEN_* with LISTEN_PID its own pid), the
 * sockets at fd 3.., the app dir as cwd, its uid/gid, its own session, and PR_SET_PDEATHSIG=SIGKILL.
 */
export function spawnApp(app: AppSpec, sockets: readonly HandedSocket[], searchPath: string, placement: Placement, log: Logger): { child: ChildHandle; output: Promise<unknown> } {
  return spawnWith(spawn, app, sockets, searchPath, placement, log);
}

/**
 * As spawnApp, but held before execve until `child.release()`; its output goes to `sink` where given,
 * else to the gateway log.
 */
export function spawnAppHeld(
  app: AppSpec,
  sockets: readonly HandedSocket[],
  searchPath: string,
  placement: Placement,
  log: Logger,
  sink?: OutputSink,
): { child: HeldChildHandle; output: Promise<unknown> } {
  return spawnWith(spawnHeld, app, sockets, searchPath, placement, log, sink);
}

function spawnWith<C extends ChildHandle>(
  how: Spawner<C>,
  app: AppSpec,
  sockets: readonly HandedSocket[],
  searchPath: string,
  placement: Placement,
  log: Logger,
  sink?: OutputSink,
): { child: C; output: Promise<unknown> } {
  const file = resolveExecutable(app.command[0]!, app.dir, searchPath);
  const env = { ...app.env, PATH: searchPath };
  const opts: SpawnOptions = { cwd: app.dir, uid: app.uid, gid: app.gid, setsid: true, listenFdNames: sockets.map((s) => s.name), deathSignal: 'SIGKILL', ...placement };
  const fds = sockets.map((s) => s.fd);
  return startWithOutput((stdio) => how(file, app.command, env, fds, { ...opts, stdio }), log, sink);
}
