import { existsSync } from 'node:fs';
import { DbusCallError } from '../dbus-errors.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import { SystemBus, Variant, type BusSignal } from '../systemd/bus.js';

const MACHINED = 'org.freedesktop.machine1';
const MANAGER_PATH = '/org/freedesktop/machine1';
const MANAGER = 'org.freedesktop.machine1.Manager';
const MACHINE = 'org.freedesktop.machine1.Machine';
const NO_SUCH_MACHINE = 'org.freedesktop.machine1.NoSuchMachine';
/** sd_booted(3): systemd is PID 1 exactly when this directory exists. */
const BOOTED = '/run/systemd/system';
const SIGKILL = 9;

/** A registered machine as machined describes it. */
export interface MachineInfo {
  /** The container's PID 1, as the host sees it. */
  readonly leader: number;
  readonly rootDirectory: string;
}

/** Either a connection to machined, or why there is none here (for the log line). */
export type MachinedProbe = { readonly machined: Machined } | { readonly reason: string };

/**
 * systemd-machined over the system bus, as much as the nspawn runtime needs to register its containers:
 * a registered container's payload lives in machined's scope `machine-<name>.scope`, outside the instance
 * cgroup the gateway kills, so what survives nspawn (killed after its grace) is killed through machined,
 * and the end of a machine is learnt from MachineRemoved rather than polled.
 */
export class Machined {
  private readonly removedWaiters = new Map<string, Set<() => void>>();

  private constructor(private readonly bus: SystemBus) {
    bus.onSignal((signal) => this.dispatch(signal));
  }

  /**
   * Connects where machined can work: systemd as PID 1 (without it nspawn's registration fails with
   * "Failed to open system bus" or finds no machined), a system bus, and machined answering on it
   * (ListMachines also activates it). Never throws: a host without it is told by `reason`.
   */
  static async probe(log: Logger): Promise<MachinedProbe> {
    if (!existsSync(BOOTED)) return { reason: `systemd is not PID 1 (no ${BOOTED})` };
    let bus: SystemBus;
    try {
      bus = await SystemBus.open(log, [watchRemovals]);
    } catch (err) {
      return { reason: `no system bus: ${err instanceof Error ? err.message : String(err)}` };
    }
    try {
      await bus.call({ destination: MACHINED, path: MANAGER_PATH, interface: MANAGER, member: 'ListMachines' });
    } catch (err) {
      bus.close();
      const why = err instanceof DbusCallError ? `${err.dbusName}${err.detail ? `: ${err.detail}` : ''}` : err instanceof Error ? err.message : String(err);
      return { reason: `systemd-machined does not answer on the system bus (${why})` };
    }
    return { machined: new Machined(bus) };
  }

  /** The names of every machine machined knows, this gateway's or not. */
  async list(): Promise<string[]> {
    const [machines] = await this.manager('ListMachines', '', []);
    return Array.isArray(machines) ? machines.map((m: unknown) => String(Array.isArray(m) ? m[0] : m)) : [];
  }

  /** The machine of that name, or undefined when machined has none. */
  async machine(name: string): Promise<MachineInfo | undefined> {
    let path: string;
    try {
      const [object] = await this.manager('GetMachine', 's', [name]);
      path = String(object);
    } catch (err) {
      if (err instanceof DbusCallError && err.dbusName === NO_SUCH_MACHINE) return undefined;
      throw err;
    }
    const [leader, rootDirectory] = await Promise.all([this.property(path, 'Leader'), this.property(path, 'RootDirectory')]);
    return { leader: Number(leader), rootDirectory: String(rootDirectory) };
  }

  /**
   * remove(), for a machine of this name whose root is `rootDirectory` only: names are host-wide, and one
   * that another gateway registered (nspawn then failed here with "already exists") is not ours to end.
   */
  async end(name: string, rootDirectory: string): Promise<boolean> {
    const found = await this.machine(name);
    return found === undefined || found.rootDirectory !== rootDirectory ? true : this.remove(name);
  }

  /**
   * Ends the machine if machined still has it: SIGKILL to every process of its scope, then the wait for
   * MachineRemoved (bounded). Called once nspawn is gone, when whatever is left there is an orphan.
   * Resolves true once the machine is gone, false past the bound.
   */
  remove(name: string): Promise<boolean> {
    return new Promise((resolve) => {
      const waiters = this.removedWaiters.get(name) ?? new Set();
      this.removedWaiters.set(name, waiters);
      const settle = (gone: boolean): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0) this.removedWaiters.delete(name);
        resolve(gone);
      };
      const done = (): void => settle(true);
      // The waiter is in place before the question, so a removal between the two is not missed.
      waiters.add(done);
      const timer = setTimeout(() => settle(false), DEFAULTS.internal.dbusUnitGoneMs);
      this.manager('KillMachine', 'ssi', [name, 'all', SIGKILL]).then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof DbusCallError && err.dbusName === NO_SUCH_MACHINE) settle(true);
          // Otherwise (nothing left to kill: the scope is emptying) MachineRemoved still comes, or the bound.
        },
      );
    });
  }

  close(): void {
    this.bus.close();
  }

  private manager(member: string, signature: string, body: readonly unknown[]): Promise<unknown[]> {
    return this.bus.call({ destination: MACHINED, path: MANAGER_PATH, interface: MANAGER, member, signature, body });
  }

  private async property(path: string, name: string): Promise<unknown> {
    const [value] = await this.bus.call({ destination: MACHINED, path, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: [MACHINE, name] });
    return value instanceof Variant ? value.value : value;
  }

  private dispatch(signal: BusSignal): void {
    if (signal.interface !== MANAGER || signal.member !== 'MachineRemoved') return;
    for (const done of [...(this.removedWaiters.get(String(signal.body[0])) ?? [])]) done();
  }
}

/** machined's signals reach only the clients that asked for them. */
async function watchRemovals(bus: SystemBus): Promise<void> {
  const rule = `type='signal',sender='${MACHINED}',interface='${MANAGER}',member='MachineRemoved'`;
  await bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [rule] });
}
