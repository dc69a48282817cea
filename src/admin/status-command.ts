import { loadConfig } from '../config/load.js';
import { DEFAULTS } from '../defaults.js';
import type { ListenAddress } from '../config/types.js';
import { adminGet, parseAdminAddress } from './client.js';
import type { AppSnapshot } from './snapshot.js';
import { statusTable } from './status-table.js';

export interface StatusOptions {
  readonly admin?: string;
  readonly config?: string;
  readonly token?: string;
  readonly json: boolean;
}


/**
 * `wakegate status`: asks a running gateway's admin API for its apps. The address and token come from the
 * flags, else the config file's admin section, else the defaults (token also from WAKEGATE_ADMIN_TOKEN).
 */
export async function runStatus(options: StatusOptions, out: NodeJS.WritableStream): Promise<void> {
  let address: ListenAddress = parseAdminAddress(options.admin ?? DEFAULTS.gateway.adminAddress);
  let token = options.token ?? (process.env.WAKEGATE_ADMIN_TOKEN || undefined);
  if (options.config && !options.admin) {
    const config = await loadConfig(options.config);
    if (!config.admin) throw new Error(`${config.file} has no admin section; pass --admin ADDR`);
    address = config.admin.listen;
    token ??= config.admin.token;
  }
  const apps = (await adminGet(address, '/apps', token)) as AppSnapshot[];
  out.write(options.json ? `${JSON.stringify(apps, null, 2)}\n` : statusTable(apps));
}
