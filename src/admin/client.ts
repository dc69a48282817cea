import { Client, request } from 'undici';
import type { ListenAddress } from '../config/types.js';

/** Parses `host:port`, `[::1]:port` or `unix:/path` as given to `wakegate status --admin`. */
export function parseAdminAddress(text: string): ListenAddress {
  if (text.startsWith('unix:')) return { kind: 'unix', path: text.slice(5) };
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!match) throw new Error(`expected host:port or unix:/path, got ${JSON.stringify(text)}`);
  return { kind: 'tcp', host: match[1] ?? match[2]!, port: Number(match[3]) };
}

/** GETs a JSON document from the admin API; throws with the status and the server's error message. */
export async function adminGet(address: ListenAddress, path: string, token: string | undefined): Promise<unknown> {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const where = address.kind === 'unix' ? `unix:${address.path}` : `${address.host}:${address.port}`;
  const res = await (address.kind === 'unix'
    ? new Client('http://admin', { socketPath: address.path }).request({ path, method: 'GET', headers })
    : request(`http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}${path}`, { headers })
  ).catch((err: Error) => {
    throw new Error(`failed to reach the admin API at ${where}: ${err.message}`);
  });
  const body = (await res.body.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  if (res.statusCode !== 200) throw new Error(`admin API answered ${res.statusCode}: ${body?.error?.message ?? 'no details'}`);
  return body;
}
