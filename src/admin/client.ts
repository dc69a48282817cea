import { Client, request } from 'undici';
import { Issues, listenAddress } from '../config/checks.js';
import type { ListenAddress } from '../config/types.js';

/**
 * Parses `wakegate status --admin ADDR` with the config's own listen-address parser, so the flag takes
 * exactly what `admin.listen` takes; a relative `unix:` path is relative to the working directory.
 */
export function parseAdminAddress(text: string): ListenAddress {
  const issues = new Issues();
  const address = listenAddress(issues, text, '--admin', process.cwd());
  if (!address) throw new Error(issues.list.map((i) => `${i.path}: ${i.message}`).join('; '));
  return address;
}

const WILDCARD_TO_LOOPBACK: Readonly<Record<string, string>> = { '0.0.0.0': '127.0.0.1', '::': '::1' };

/** GETs a JSON document from the admin API; throws with the status and the server's error message. */
export async function adminGet(address: ListenAddress, path: string, token: string | undefined): Promise<unknown> {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  // A wildcard listener (`:9090`) is reached on the loopback, which is also the Host a tokenless admin takes.
  const host = address.kind === 'tcp' ? (WILDCARD_TO_LOOPBACK[address.host] ?? address.host) : '';
  const where = address.kind === 'unix' ? `unix:${address.path}` : `${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  const res = await (address.kind === 'unix'
    ? new Client('http://admin', { socketPath: address.path }).request({ path, method: 'GET', headers })
    : request(`http://${where}${path}`, { headers })
  ).catch((err: Error) => {
    throw new Error(`failed to reach the admin API at ${where}: ${err.message}`);
  });
  const body = (await res.body.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  if (res.statusCode !== 200) throw new Error(`admin API answered ${res.statusCode}: ${body?.error?.message ?? 'no details'}`);
  return body;
}
