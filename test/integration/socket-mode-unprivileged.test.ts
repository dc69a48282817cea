// A real `wakegate run` as a second, unprivileged uid (no CAP_NET_BIND_SERVICE): an app on a port below
// 1024 is refused alone, with the typed error in the log and in the admin API and `wakegate status`,
// while the app beside it serves a real connection.
import t, { type Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import type { AppSnapshot } from '../../src/admin/snapshot.js';
import { CLI, followLog } from '../helpers/cli.js';
import { alive, FIXTURE_APP } from '../helpers/gateway.js';
import { localGroup, localUser, type LocalUser } from '../helpers/local-user.js';
import { echo } from '../helpers/socket-mode.js';

const exec = promisify(execFile);

/** A port below 1024 that nothing on 127.0.0.1 uses now, found by binding it as root. */
async function freePrivilegedPort(): Promise<number> {
  for (let port = 600; port < 1024; port++) {
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port below 1024');
}

/** A home of `user`'s own (0700) under a parent others may pass through, removed with the test. */
function homeOf(t: Test, user: LocalUser): string {
  const parent = mkdtempSync(join(tmpdir(), 'wg-unpriv-'));
  chmodSync(parent, 0o711);
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const home = join(parent, 'home');
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, user.uid, user.gid);
  return home;
}

t.test('as a non-root uid, an app on a privileged port is refused alone; the other app serves', async (t) => {
  const user = await localUser(t);
  const foreignGroup = await localGroup(t);
  const home = homeOf(t, user);
  const port = await freePrivilegedPort();
  const runtimeDir = join(home, 'run');
  const configFile = join(home, 'wakegate.json');
  const app = (listen: unknown[]) => ({ listen, command: [process.execPath, 'echo.mjs'], dir: FIXTURE_APP, runtime: 'process', idleTimeout: '30s' });
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { http: '127.0.0.1:0' },
      admin: { listen: '127.0.0.1:0' },
      runtimeDir,
      apps: {
        low: app([`tcp:127.0.0.1:${port}`]),
        high: app(['tcp:127.0.0.1:0']),
        // A socket file for a group this uid is not in: chown(2) refuses it, between bind and listen.
        grouped: app([{ address: `unix:${join(home, 'g.sock')}`, mode: '0660', group: foreignGroup.gid }]),
      },
    }),
  );
  chownSync(configFile, user.uid, user.gid);

  // A plain environment: the test runner's NODE_OPTIONS would have the child write where this user may not.
  const args = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', process.execPath, CLI, 'run', '-c', configFile];
  const child = spawn('setpriv', args, { cwd: '/', env: { PATH: process.env.PATH ?? '', WAKEGATE_LOG_LEVEL: 'debug' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });
  const { lines, waitFor } = followLog(child);
  const listening = await Promise.race([waitFor((l) => l.msg === 'wakegate listening', 20_000), exited.then(() => undefined)]);
  if (!listening) throw new Error(`the unprivileged gateway did not start: ${stderr}`);
  t.equal(statSync(runtimeDir).uid, user.uid, 'the runtimeDir is the unprivileged uid’s own');

  const refusal = lines.find((l) => l.level === 50 && l.app === 'low');
  t.match(
    refusal,
    {
      address: `tcp:127.0.0.1:${port}`,
      err: { code: 'WG_ERR_APP_SOCKET', problem: 'privileged', errno: 'EACCES' },
      msg: `app low cannot listen on tcp:127.0.0.1:${port}: port ${port} needs CAP_NET_BIND_SERVICE (or run as root); app low is not served`,
    },
    'the refusal names the app, the address and the reason',
  );

  t.match(lines.find((l) => l.level === 50 && l.app === 'grouped'), {
    err: { code: 'WG_ERR_APP_SOCKET', errno: 'EPERM' },
    msg: `app grouped cannot listen on unix:${join(home, 'g.sock')}: cannot give the socket file to group ${foreignGroup.gid}: the gateway must run as root or as a member of that group; app grouped is not served`,
  });
  t.notOk(existsSync(join(home, 'g.sock')), 'the socket file bound before the refused chown is removed');

  const admin = (await waitFor((l) => l.msg === 'admin listening')).address as { port: number };
  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await request(`http://127.0.0.1:${admin.port}${path}`);
    return { status: res.statusCode, body: (await res.body.json()) as T };
  };
  const { body: apps } = await get<AppSnapshot[]>('/apps');
  const low = apps.find((a) => a.name === 'low');
  const high = apps.find((a) => a.name === 'high');
  t.match(low, {
    state: 'refused',
    instance: null,
    sockets: [],
    refused: { code: 'WG_ERR_APP_SOCKET', address: `tcp:127.0.0.1:${port}`, problem: 'privileged', errno: 'EACCES', message: /needs CAP_NET_BIND_SERVICE/ },
  });
  t.match(high, { state: 'stopped', refused: null });
  t.match(apps.find((a) => a.name === 'grouped'), { state: 'refused', refused: { errno: 'EPERM' } });
  t.match(await get('/apps/low'), { status: 200, body: { name: 'low', state: 'refused', refused: { problem: 'privileged' } } }, 'GET /apps/low shows it too');
  const start = await request(`http://127.0.0.1:${admin.port}/apps/low/start`, { method: 'POST' });
  t.equal(start.statusCode, 404, 'a refused app has nothing to start');
  await start.body.dump();

  const status = await exec(process.execPath, [CLI, 'status', '--admin', `127.0.0.1:${admin.port}`], { env: { PATH: process.env.PATH ?? '' } });
  t.match(status.stdout, /^low\s+refused\s/m, '`wakegate status` shows the app refused');
  t.match(status.stdout, /^high\s+stopped\s/m);

  const bound = high!.sockets[0]!.address.replace(/^tcp:/, '');
  const highPort = Number(bound.slice(bound.lastIndexOf(':') + 1));
  t.ok(highPort >= 1024, 'the other app is on an unprivileged port');
  t.equal(await echo({ kind: 'tcp', host: '127.0.0.1', port: highPort }, 'through\n'), 'through\n', 'the other app woke and served a real connection');
  await waitFor((l) => l.app === 'high' && l.msg.startsWith('cold start of high'));
  const { body: running } = await get<AppSnapshot>('/apps/high');
  t.equal(running.state, 'running');
  const pid = running.instance!.pid;
  t.match(readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${user.uid}\\s`, 'm'), 'its instance runs as the unprivileged uid');

  child.kill('SIGTERM');
  const [code] = await exited;
  t.equal(code, 0, 'the gateway shuts down cleanly');
  t.notOk(alive(pid), 'its instance is gone');
  t.notOk(existsSync(join(runtimeDir, 'apps', 'high.sock')), 'nothing left in the runtimeDir');
});
