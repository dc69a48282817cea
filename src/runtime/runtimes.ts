import { join } from 'node:path';
import type { AppSpec, GatewayConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { Cgroups } from './cgroup.js';
import { removeLeftoverCgroups } from './cgroup-kill.js';
import { InstanceIds } from './instance-ids.js';
import { NspawnRuntime } from './nspawn.js';
import { OciRuntime } from './oci.js';
import { ProcessRuntime } from './process.js';
import { RuncCli } from './runc.js';
import type { Runtime } from './runtime.js';
import { SystemdRuntime } from './systemd.js';
import { connectSystemd, systemdApps } from '../systemd/systemd-probe.js';
import { SystemdManager } from '../systemd/systemd-manager.js';

export interface Runtimes {
  readonly oci: OciRuntime | undefined;
  /** The runtime an app runs on: its own choice, with `auto` meaning oci where that works. */
  runtimeFor(spec: AppSpec): Runtime;
  /** Every runtime built for this gateway, once each (for what some of them can do: survivors, hand-over). */
  readonly all: readonly Runtime[];
  /** Releases what the runtimes hold (runc's state, the system bus connection). */
  close(): void;
}

/**
 * Builds the runtimes for a gateway's life. The oci one exists when an OCI runtime was found at load and
 * the gateway runs as root (runc needs it without a user namespace setup). Both share one cgroup tree and
 * one numbering of instances. First, whatever a previous gateway on the same runtimeDir left is removed:
 * its containers, then every cgroup of its instances with the processes still in it. Apps on `auto` fall
 * back to plain processes, said once; then one line says which runtime each app got. Apps on `systemd`
 * need systemd on the system bus: without it start-up fails (SystemdUnavailableError) naming why.
 */
export async function createRuntimes(config: GatewayConfig, log: Logger): Promise<Runtimes> {
  const root = process.getuid?.() === 0;
  const cgroups = new Cgroups(config.runtimeDir);
  if (root) {
    try {
      cgroups.prepare();
    } catch (err) {
      log.warn({ err, parent: cgroups.parent }, 'failed to prepare the delegated cgroup tree, ignoring');
    }
  }
  const ids = new InstanceIds();
  const onSystemd = systemdApps(config.apps);
  const systemd = onSystemd.length > 0 ? new SystemdRuntime(await connectSystemd(onSystemd, log), ids) : await sweeper(ids, log);
  const processRuntime = new ProcessRuntime({ cgroups: root ? cgroups : undefined, ids });
  const binary = config.oci.runtime;
  let oci: OciRuntime | undefined;
  const runc = binary && root ? new RuncCli(binary, join(config.runtimeDir, 'runc')) : undefined;
  const removed: string[] = [];
  if (runc) {
    oci = new OciRuntime(runc, join(config.runtimeDir, 'bundles'), cgroups, ids);
    removed.push(...(await oci.removeStale(log)));
  }
  // systemd-nspawn, found at load; like runc it needs root for its namespaces and mounts.
  const nspawn = config.nspawn?.binary && root ? new NspawnRuntime({ binary: config.nspawn.binary, rootsDir: join(config.runtimeDir, 'machines'), directory: config.nspawn.directory, cgroups, ids }) : undefined;
  if (nspawn) removed.push(...(await nspawn.removeStale(log, Object.values(config.apps).some((app) => app.runtime === 'nspawn'))));
  if (root) removed.push(...(await removeLeftoverCgroups(cgroups, log)));
  if (removed.length > 0) log.warn({ instances: [...new Set(removed)] }, `removed ${new Set(removed).size} stale instances of a previous gateway`);
  if (!oci && Object.values(config.apps).some((app) => app.runtime === 'auto')) {
    const why = binary ? 'the gateway does not run as root' : 'no OCI runtime was found (apt-get install runc)';
    log.warn(`apps with runtime auto run as plain processes, without isolation: ${why}`);
  }
  const noNspawn = unavailable('nspawn', config.nspawn?.binary ? 'the nspawn runtime needs the gateway to run as root' : 'systemd-nspawn was not found; install it with: apt-get install systemd-container');
  const missing = unavailable('oci', binary ? 'the oci runtime needs the gateway to run as root' : 'no OCI runtime was found; install one with: apt-get install runc');
  const noSystemd = unavailable('systemd', 'runtime systemd was not in use at start-up; restart the gateway to connect to systemd');
  const runtimeFor = (spec: AppSpec): Runtime => {
    if (spec.runtime === 'process') return processRuntime;
    if (spec.runtime === 'systemd') return systemd ?? noSystemd;
    if (spec.runtime === 'nspawn') return nspawn ?? noNspawn;
    if (spec.runtime === 'auto' && !spec.bundle) return oci ?? processRuntime;
    return oci ?? missing;
  };
  const labels = new Map<Runtime, string>([
    [processRuntime, 'process'],
    [missing, 'oci (unavailable)'],
    [noSystemd, 'systemd (unavailable)'],
    [noNspawn, 'nspawn (unavailable)'],
  ]);
  if (systemd) labels.set(systemd, 'systemd');
  if (nspawn) labels.set(nspawn, 'nspawn');
  if (oci && runc) labels.set(oci, `oci (${await runc.version()})`);
  const chosen = Object.fromEntries(Object.values(config.apps).map((spec) => [spec.name, runtimeFor(spec).kind]));
  log.info({ runtimes: chosen, cgroups: `v${cgroups.version}`, cgroupParent: cgroups.parent, delegated: cgroups.delegated }, summary(Object.values(config.apps).map((spec) => labels.get(runtimeFor(spec))!)));
  return {
    oci,
    runtimeFor,
    all: [processRuntime, ...[oci, nspawn, systemd].filter((r): r is NonNullable<typeof r> => r !== undefined)],
    close: () => {
      oci?.close();
      nspawn?.close();
      systemd?.close();
    },
  };
}

/** `2 apps: oci (runc 1.1.5)`, or with a mix `3 apps: 2 oci (runc 1.1.5), 1 process`. */
function summary(labels: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  const head = `${labels.length} ${labels.length === 1 ? 'app' : 'apps'}`;
  if (counts.size === 0) return `${head}`;
  if (counts.size === 1) return `${head}: ${[...counts.keys()][0]}`;
  return `${head}: ${[...counts].map(([label, n]) => `${n} ${label}`).join(', ')}`;
}

/**
 * Under systemd with no app on runtime systemd, a previous gateway may still have left tenant scopes (its
 * config had such apps): a systemd runtime that no app uses finds them, to be stopped. Best effort.
 */
async function sweeper(ids: InstanceIds, log: Logger): Promise<SystemdRuntime | undefined> {
  if (!process.env.INVOCATION_ID) return undefined;
  try {
    return new SystemdRuntime(await SystemdManager.connect(log), ids);
  } catch (err) {
    log.debug({ err }, 'no systemd on the system bus: no tenant scopes of a previous gateway to look for');
    return undefined;
  }
}

/** Stands in for a runtime where it cannot work, so that such an app fails its starts with the reason. */
function unavailable(kind: string, reason: string): Runtime {
  return {
    kind,
    start: () => Promise.reject(new Error(reason)),
  };
}
