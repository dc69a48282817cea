/** `wakegate haproxy-config -c FILE --server HOST[:PORT] ...`: prints the haproxy.cfg of the tier (haproxy-config.ts). */
import type { Writable } from 'node:stream';
import { loadConfig } from './config/load.js';
import { ConfigError } from './errors.js';
import { haproxyConfig } from './haproxy-config.js';
import { HaproxyConfigError } from './haproxy-config-errors.js';

export interface HaproxyConfigArgs {
  readonly config: string | undefined;
  readonly servers: readonly string[];
  readonly bind: string | undefined;
  readonly balanceFactor: string | undefined;
}

/** Exit status: 0 printed, 1 the config or the host list cannot be fronted, 2 a usage error. */
export async function runHaproxyConfig(args: HaproxyConfigArgs, out: Writable, err: Writable): Promise<number> {
  if (!args.config || args.servers.length === 0) {
    err.write('wakegate haproxy-config: -c FILE and at least one --server HOST[:PORT] are required\n');
    return 2;
  }
  // Number('') is 0, which would silently unbound the load.
  const factor = args.balanceFactor === undefined ? undefined : args.balanceFactor.trim() === '' ? Number.NaN : Number(args.balanceFactor);
  try {
    const config = await loadConfig(args.config);
    out.write(haproxyConfig(config, { servers: args.servers, source: args.config, ...(args.bind !== undefined && { bind: args.bind }), ...(factor !== undefined && { balanceFactor: factor }) }));
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError || e instanceof HaproxyConfigError)) throw e;
    err.write(`${e.message}\n`);
    return 1;
  }
}
