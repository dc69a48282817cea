import { join } from 'node:path';
import type { AppSpec, GatewayConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { Cgroups } from './cgroup.js';
import { OciRuntime } from './oci.js';
import { ProcessRuntime } from './process.js';
import { RuncCli } from './runc.js';
import type { Runtime } from './runtime.js';

export interface Runtimes {
  readonly oci: OciRuntime | undefined;
  /** The runtime an app runs on: its own choice, with `auto` meaning oci where that works. */
  runtimeFor(spec: AppSpec): Runtime;
}

/**
 * Builds the runtimes for a gateway's life. The oci one exists when an OCI runtime was found at load and
 * the gateway runs as root (runc needs it without a user namespace setup); it first removes whatever a
 * previous gateway on the same runtimeDir left. Apps on `auto` fall back to plain processes, said once.
 */
export async function createRuntimes(config: GatewayConfig, log: Logger): Promise<Runtimes> {
  const processRuntime = new ProcessRuntime();
  const binary = config.oci.runtime;
  const root = process.getuid?.() === 0;
  let oci: OciRuntime | undefined;
  if (binary && root) {
    oci = new OciRuntime(new RuncCli(binary, join(config.runtimeDir, 'runc')), join(config.runtimeDir, 'bundles'), new Cgroups(config.runtimeDir));
    const removed = await oci.removeStale(log);
    if (removed.length > 0) log.warn({ containers: removed }, `removed ${removed.length} stale containers of a previous gateway`);
  }
  if (!oci && Object.values(config.apps).some((app) => app.runtime === 'auto')) {
    const why = binary ? 'the gateway does not run as root' : 'no OCI runtime was found (apt-get install runc)';
    log.warn(`apps with runtime auto run as plain processes, without isolation: ${why}`);
  }
  const missing = unavailable(binary ? 'the oci runtime needs the gateway to run as root' : 'no OCI runtime was found; install one with: apt-get install runc');
  return {
    oci,
    runtimeFor: (spec) => {
      if (spec.runtime === 'process') return processRuntime;
      if (spec.runtime === 'auto' && !spec.bundle) return oci ?? processRuntime;
      return oci ?? missing;
    },
  };
}

/** Stands in for the oci runtime where it cannot work, so that such an app fails its starts with the reason. */
function unavailable(reason: string): Runtime {
  return {
    kind: 'oci',
    start: () => Promise.reject(new Error(reason)),
  };
}
