// `runtime: systemd` where it cannot work: no system bus, or a bus without systemd on it (a real
// dbus-daemon of the test's own, with nothing else connected; Debian's activation file for
// org.freedesktop.systemd1 runs /bin/false, so the name fails to activate as on a host without systemd). `wakegate check` and `wakegate run` both
// refuse the config, naming the reason, before anything is served.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLI } from '../helpers/cli.js';
import { ROOT } from '../helpers/gateway.js';
import { missingTools } from '../helpers/tools.js';

interface Outcome { readonly code: number | null; readonly stdout: string; readonly stderr: string }

function wakegate(args: readonly string[], env: Readonly<Record<string, string>>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

function setup(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-sdrt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'wakegate.yaml');
  writeFileSync(file, `listen: { http: "127.0.0.1:0" }
runtimeDir: ${join(dir, 'run')}
apps:
  hello:
    hosts: ["hello.localhost"]
    command: ["node", "server.mjs"]
    dir: ${join(ROOT, 'examples/hello')}
    runtime: systemd
`);
  return file;
}

t.test('no system bus: check and run fail naming the address and the reason', async (t) => {
  const file = setup(t);
  const env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(tmpdir(), 'wg-no-such-bus')}` };
  const check = await wakegate(['check', '-c', file], env);
  t.equal(check.code, 1);
  t.match(check.stderr, /runtime systemd \(apps hello\) is unavailable: cannot connect to the system bus at unix:path=\S+wg-no-such-bus: connect ENOENT/);
  t.equal(check.stdout, '', 'not reported ok');
  const run = await wakegate(['run', '-c', file], env);
  t.equal(run.code, 1);
  t.match(run.stderr, /runtime systemd \(apps hello\) is unavailable: cannot connect to the system bus.*\(WG_ERR_SYSTEMD_UNAVAILABLE\)/);
});

t.test('a bus without systemd: check and run fail saying systemd is not on it', { skip: missingTools({ 'dbus-daemon': 'dbus-daemon' } as const) }, async (t) => {
  const file = setup(t);
  const socket = join(mkdtempSync(join(tmpdir(), 'wg-bus-')), 'bus');
  t.teardown(() => rmSync(join(socket, '..'), { recursive: true, force: true }));
  const daemon = spawn('dbus-daemon', ['--session', '--nofork', `--address=unix:path=${socket}`, '--print-address=1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { daemon.kill('SIGTERM'); });
  // The daemon prints its address once it listens.
  await new Promise<void>((resolve, reject) => {
    daemon.stdout.once('data', () => resolve());
    daemon.once('exit', (code) => reject(new Error(`dbus-daemon exited ${code}`)));
  });
  const env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${socket}` };
  const check = await wakegate(['check', '-c', file], env);
  t.equal(check.code, 1);
  t.match(check.stderr, /systemd is not on the system bus at unix:path=\S+ \(org\.freedesktop\.DBus\.Error\.(ServiceUnknown|Spawn\.ChildExited)\); is systemd PID 1\?/);
  const run = await wakegate(['run', '-c', file], env);
  t.equal(run.code, 1);
  t.match(run.stderr, /systemd is not on the system bus.*\(WG_ERR_SYSTEMD_UNAVAILABLE\)/);
});
