import type { AppSpec } from '../config/types.js';
import { DbusCallError } from '../dbus-errors.js';
import type { Logger } from '../log.js';
import { closeFd, type ChildHandle } from '../native/index.js';
import type { ScopeSpec, SystemdManager } from '../systemd/systemd-manager.js';
import { spawnAppHeld } from './app-spawn.js';
import type { JournalOutput } from './journal-stream.js';
import type { HandedSocket } from './runtime.js';

const UNIT_EXISTS = 'org.freedesktop.systemd1.UnitExists';

/**
 * The app's main process, inside its transient scope before it runs a single instruction of the app:
 * spawned held (set up, stopped short of execve), placed with StartTransientUnit(PIDs=[pid]), and
 * released only once the job is done, so that nothing it forks is ever born outside the scope (a
 * placement after the exec left the app ~13 ms in the gateway's cgroup, with whatever it forked there
 * for good). It has no death signal and writes its output to the journal (`journal`, where journald
 * listens): it depends on the gateway for nothing once it runs. A failed placement kills the child
 * before it ever ran the app, for a tenant outside its limits must not serve.
 */
export async function spawnInScope(
  app: AppSpec,
  sockets: readonly HandedSocket[],
  searchPath: string,
  manager: SystemdManager,
  journal: JournalOutput,
  scope: Omit<ScopeSpec, 'pid'>,
  log: Logger,
): Promise<{ child: ChildHandle; output: Promise<unknown> }> {
  const sink = journal.open(app.name, scope.unit, log);
  let spawned: ReturnType<typeof spawnAppHeld>;
  try {
    spawned = spawnAppHeld(app, sockets, searchPath, { deathSignal: null }, log, sink);
  } finally {
    // The child has its own copies; the streams are its alone.
    if (sink) for (const fd of [sink.stdout, sink.stderr]) closeFd(fd);
  }
  const { child } = spawned;
  try {
    await manager.startScope({ ...scope, pid: child.pid });
  } catch (err) {
    child.cancel();
    child.kill('SIGKILL');
    await child.exited;
    // A unit of that name that was there before (UnitExists) is someone else's, and stays.
    if (!(err instanceof DbusCallError && err.dbusName === UNIT_EXISTS)) await manager.stop(scope.unit).catch(() => undefined);
    manager.takeResult(scope.unit);
    throw err;
  }
  try {
    child.release();
  } catch (err) {
    // execve failed (the child exits 127) or it died meanwhile: its scope empties and goes; make sure of it.
    child.kill('SIGKILL');
    await child.exited;
    await manager.stop(scope.unit).catch(() => undefined);
    manager.takeResult(scope.unit);
    throw err;
  }
  return spawned;
}
