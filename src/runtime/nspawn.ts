import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AppSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import { makeHostRootfs } from './bundle.js';
import type { Cgroups } from './cgroup.js';
import { makeDirs } from './dirs.js';
import { InstanceIds, INSTANCE_PREFIX } from './instance-ids.js';
import { Machined } from './machined.js';
import { nspawnArgs } from './nspawn-args.js';
import { NspawnMachine, removeMachineDirs } from './nspawn-machine.js';
import { ProcessRuntime } from './process.js';
import type { HandedSocket, Instance, Runtime } from './runtime.js';

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
 * app, then after stopTimeout SIGKILL of the whole cgroup, nspawn's own sub-cgroups included. Where
 * systemd-machined is on the system bus (decided once, at start-up or the first start), containers are
 * registered: machined's scope holds the container and its limits, and what nspawn's end leaves there is
 * killed through machined (nspawn-machine.ts).
 */
export class NspawnRuntime implements Runtime {
  readonly kind = 'nspawn';
  private readonly launcher: ProcessRuntime;
  private readonly ids: InstanceIds;
  private limitsWarned = false;
  private registration: Promise<Machined | undefined> | undefined;

  constructor(private readonly options: NspawnOptions) {
    makeDirs(options.rootsDir);
    this.ids = options.ids ?? new InstanceIds();
    // SIGTERM on the gateway's death: nspawn then ends its container rather than orphan it.
    this.launcher = new ProcessRuntime({ cgroups: options.cgroups, ids: this.ids, kind: this.kind, deathSignal: 'SIGTERM' });
  }

  /**
   * Start-up: removes the generated roots and propagation dirs a gateway that died left (its cgroups are
   * removeLeftoverCgroups' work, after this) and, registered, the machines of its instances still alive
   * in their scopes: machined lists them, since neither their root (a full stop removes runtimeDir, and
   * `nspawn.directory` has none per instance) nor the gateway's unit cgroup may be left to name them.
   * `wanted` (an app is on nspawn) decides registration now rather than at the first start.
   */
  async removeStale(log: Logger, wanted: boolean): Promise<string[]> {
    let ids: string[] = [];
    try {
      ids = readdirSync(this.options.rootsDir).filter((name) => name.startsWith(INSTANCE_PREFIX));
    } catch {
      // no roots directory yet
    }
    const machined = wanted || ids.length > 0 ? await this.registered(log) : undefined;
    const machines: string[] = [];
    const listed = machined ? await machined.list().catch((err: unknown) => { log.warn({ err }, 'failed to list the machines of systemd-machined, ignoring'); return []; }) : [];
    for (const id of listed.filter((name) => name.startsWith(INSTANCE_PREFIX))) {
      if (await this.endStaleMachine(machined!, id, log)) machines.push(id);
    }
    for (const id of ids) removeMachineDirs(join(this.options.rootsDir, id), id);
    return [...new Set([...ids, ...machines])];
  }

  /** Ends the registered machine `id` if it is one of this gateway's (its root is): another gateway's stays. */
  private async endStaleMachine(machined: Machined, id: string, log: Logger): Promise<boolean> {
    try {
      const found = await machined.machine(id);
      const ours = found && found.rootDirectory === (this.options.directory ?? join(this.options.rootsDir, id));
      if (!ours) return false;
      if (!(await machined.remove(id))) log.warn({ instance: id }, 'a stale machine was not removed in time, ignoring');
      return true;
    } catch (err) {
      log.warn({ err, instance: id }, 'failed to end a stale machine, ignoring');
      return false;
    }
  }

  /** machined, where this host has it: asked once, then kept for the gateway's life. */
  private registered(log: Logger): Promise<Machined | undefined> {
    this.registration ??= Machined.probe(log).then((probe) => {
      if ('machined' in probe) {
        log.info('nspawn containers are registered with systemd-machined');
        return probe.machined;
      }
      log.info({ reason: probe.reason }, 'nspawn containers are not registered with systemd-machined');
      return undefined;
    });
    return this.registration;
  }

  close(): void {
    void this.registration?.then((machined) => machined?.close());
  }

  async start(app: AppSpec, sockets: readonly HandedSocket[], log: Logger): Promise<Instance> {
    const machined = await this.registered(log);
    if (!machined && !this.limitsWarned && (app.memoryBytes !== undefined || app.pids !== undefined || app.cpuWeight !== undefined)) {
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
      const argv = [this.options.binary, ...nspawnArgs(app, { machine: id, directory, hostRoot, fdNames: sockets.map((s) => s.name), registered: machined !== undefined })];
      // nspawn itself runs as the gateway (root); the app's ids are setpriv's business inside.
      const { uid: _uid, gid: _gid, ...unprivileged } = app;
      const launched = this.launcher.launch(id, { ...unprivileged, command: argv, dir: '/', env: {} }, sockets, log);
      return new NspawnMachine(launched, hostRoot ? directory : undefined, machined && { machined, directory }, log);
    } catch (err) {
      removeMachineDirs(hostRoot ? directory : undefined, id);
      throw err;
    }
  }
}
