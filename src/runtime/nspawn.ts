import { readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AppSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import { makeHostRootfs } from './bundle.js';
import type { Cgroups } from './cgroup.js';
import { makeDirs } from './dirs.js';
import { InstanceIds, INSTANCE_PREFIX } from './instance-ids.js';
import { nspawnArgs } from './nspawn-args.js';
import { ProcessRuntime } from './process.js';
import type { ExitInfo, HandedSocket, Instance, InstanceStats, Runtime } from './runtime.js';

/** Where nspawn 252 keeps a machine's mount-propagation directory; it stays behind when nspawn is killed. */
const PROPAGATE_DIR = '/run/systemd/nspawn/propagate';
/** And the lock of a root directory, named after its inode (with `.#<name>.lck` beside the root itself). */
const LOCKS_DIR = '/run/systemd/nspawn/locks';

export interface NspawnOptions {
  /** The systemd-nspawn binary (absolute path). */
  readonly binary: string;
  /** Where the generated roots live, one per instance (below runtimeDir). */
  readonly rootsDir: string;
  /** A user-supplied root directory, used read-only instead of a generated one with the host's /usr. */
  readonly directory?: string;
  readonly cgroups?: Cgroups;
  readonly ids?: InstanceIds;
}

/**
 * Instances as systemd-nspawn containers. nspawn is the launcher: it is spawned like a process instance
 * (the addon hands it the sockets at fd 3.. with LISTEN_PID set to its own pid, and clones it into the
 * instance's cgroup), and forwards the sockets to the app, which runs as the container's PID 1 (see
 * nspawn-args.ts for why). Its stop is the process runtime's: SIGTERM to nspawn, which passes it to the
 * app, then after stopTimeout SIGKILL of the whole cgroup, nspawn's own sub-cgroups included.
 */
export class NspawnRuntime implements Runtime {
  readonly kind = 'nspawn';
  private readonly launcher: ProcessRuntime;
  private readonly ids: InstanceIds;
  private limitsWarned = false;

  constructor(private readonly options: NspawnOptions) {
    makeDirs(options.rootsDir);
    this.ids = options.ids ?? new InstanceIds();
    // SIGTERM on the gateway's death: nspawn then ends its container rather than orphan it.
    this.launcher = new ProcessRuntime({ cgroups: options.cgroups, ids: this.ids, kind: this.kind, deathSignal: 'SIGTERM' });
  }

  /** Removes the generated roots and propagation dirs a gateway that died left; its cgroups are removeLeftoverCgroups' work. */
  removeStale(): string[] {
    let ids: string[] = [];
    try {
      ids = readdirSync(this.options.rootsDir).filter((name) => name.startsWith(INSTANCE_PREFIX));
    } catch {
      return [];
    }
    for (const id of ids) removeMachineDirs(join(this.options.rootsDir, id), id);
    return ids;
  }

  async start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance> {
    if (!this.limitsWarned && (app.memoryBytes !== undefined || app.pids !== undefined || app.cpuWeight !== undefined)) {
      // nspawn applies limits only through --property on a registered machine, which needs machined.
      log.warn('memory, pids and cpuWeight are not applied by the nspawn runtime without machined, ignoring');
      this.limitsWarned = true;
    }
    const id = this.ids.next(app.name);
    const directory = this.options.directory ?? join(this.options.rootsDir, id);
    const hostRoot = this.options.directory === undefined;
    // nspawn creates /root in the root it is given before making it read-only.
    if (hostRoot) makeHostRootfs(directory, ['run', 'var', 'root']);
    try {
      const argv = [this.options.binary, ...nspawnArgs(app, { machine: id, directory, hostRoot, fdNames: sockets.map((s) => s.name) })];
      // nspawn itself runs as the gateway (root); the app's ids are setpriv's business inside.
      const { uid: _uid, gid: _gid, ...unprivileged } = app;
      const launched = this.launcher.launch(id, { ...unprivileged, command: argv, dir: '/', env: {} }, sockets, log);
      return new Machine(launched, hostRoot ? directory : undefined);
    } catch (err) {
      removeMachineDirs(hostRoot ? directory : undefined, id);
      throw err;
    }
  }
}

/** An nspawn instance: the launcher's process instance, whose exit also removes what nspawn left on disk. */
class Machine implements Instance {
  readonly runtime = 'nspawn';
  readonly id: string;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;

  constructor(
    private readonly launched: Instance,
    root: string | undefined,
  ) {
    this.id = launched.id;
    this.pid = launched.pid;
    this.exited = launched.exited.then((exit) => {
      removeMachineDirs(root, launched.id);
      return exit;
    });
  }

  async stop(graceMs: number): Promise<ExitInfo> {
    await this.launched.stop(graceMs);
    return this.exited;
  }

  stats(): Promise<InstanceStats> {
    return this.launched.stats();
  }
}

/**
 * What nspawn leaves of `machine` when it is killed: the generated root (if any) with its two locks, and
 * the propagation directory. Never throws: an exit must not fail.
 */
function removeMachineDirs(root: string | undefined, machine: string): void {
  try {
    if (root !== undefined) {
      const { dev, ino } = statSync(root);
      rmSync(join(LOCKS_DIR, `inode-${dev}:${ino}`), { force: true });
      rmSync(join(dirname(root), `.#${basename(root)}.lck`), { force: true });
      rmSync(root, { recursive: true, force: true });
    }
  } catch {
    // gone already, or a mount still held by a process that would not die; the next start-up removes it
  }
  try {
    rmSync(join(PROPAGATE_DIR, machine), { recursive: true, force: true });
  } catch {
    // as above
  }
}
