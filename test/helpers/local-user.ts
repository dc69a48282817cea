import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Test } from 'tap';

const exec = promisify(execFile);

export interface LocalUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Connects to the Unix socket at `path` as this user and sends one HTTP request for `host`. */
  request(path: string, host: string): Promise<ClientResult>;
}

/** What a client of another uid got: an HTTP status and body, or the errno of its connect. */
export type ClientResult = { readonly status: number; readonly body: string } | { readonly error: string };

/** A group made with groupadd for this test, removed when it ends (failed or not). */
export async function localGroup(t: Test): Promise<{ name: string; gid: number }> {
  const name = `wgsg${randomBytes(4).toString('hex')}`;
  await exec('groupadd', [name]);
  t.teardown(async () => void (await exec('groupdel', [name])));
  const gid = Number((await exec('getent', ['group', name])).stdout.split(':')[2]);
  return { name, gid };
}

/**
 * A second local user (useradd, no home, removed with userdel when the test ends), member of `groups`
 * through the group database as an operator would make it (useradd -G, i.e. usermod -aG).
 */
export async function localUser(t: Test, groups: readonly string[] = []): Promise<LocalUser> {
  const name = `wgu${randomBytes(4).toString('hex')}`;
  await exec('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', ...(groups.length > 0 ? ['--groups', groups.join(',')] : []), name]);
  t.teardown(async () => void (await exec('userdel', [name])));
  const uid = Number((await exec('id', ['-u', name])).stdout.trim());
  const gid = Number((await exec('id', ['-g', name])).stdout.trim());
  return { name, uid, gid, request: (path, host) => requestAs(uid, gid, path, host) };
}

// Runs as the other uid: its own connect, so the kernel's permission checks are the ones under test.
const CLIENT = `
const net = require('net');
const [path, host] = process.argv.slice(1);
const out = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); process.exit(0); };
const s = net.connect(path, () => s.write('GET / HTTP/1.1\\r\\nhost: ' + host + '\\r\\nconnection: close\\r\\n\\r\\n'));
let text = '';
s.on('data', (d) => (text += d));
s.on('end', () => {
  const status = Number(/^HTTP\\/1\\.1 (\\d{3})/.exec(text)?.[1] ?? 0);
  out({ status, body: text.slice(text.indexOf('\\r\\n\\r\\n') + 4) });
});
s.on('error', (e) => out({ error: e.code }));
`;

async function requestAs(uid: number, gid: number, path: string, host: string): Promise<ClientResult> {
  // --init-groups: the supplementary groups the group database gives the user, as login or nginx would.
  const args = [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', process.execPath, '-e', CLIENT, path, host];
  const { stdout } = await exec('setpriv', args, { cwd: '/', timeout: 20_000 });
  return JSON.parse(stdout) as ClientResult;
}
