import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { basename, join } from 'node:path';
import { FIXTURE_APP, startGateway, type TestGateway } from '../helpers/gateway.js';
import { boundOf, echo, echoApp, EventLog, listenLine } from '../helpers/socket-mode.js';
import { boundPort, SOCKET_FIXTURES } from '../helpers/socket-servers.js';
import { missingTool, needTool } from '../helpers/tools.js';
import { Cgroups } from '../../src/runtime/cgroup.js';

/**
 * The nspawn runtime on the CI host itself (no booted systemd): systemd-nspawn gets the app sockets at fd
 * 3.. and forwards them to the app, which runs as the container's PID 1 in an empty network namespace,
 * on a read-only root with the host's /usr and /etc and the app dir at /app.
 */

const skip = missingTool('systemd-nspawn', 'systemd-container') || (process.getuid?.() !== 0 ? 'containers need root' : false);

const nspawnApp = (hosts: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  hosts,
  command: ['node', 'app.mjs'],
  dir: FIXTURE_APP,
  runtime: 'nspawn',
  ...extra,
});

async function probe<T>(gw: TestGateway, host: string, what: string): Promise<T> {
  return JSON.parse((await gw.get(host, `/probe/${what}`)).body) as T;
}

/** Gone, or a zombie that holds nothing but its pid until the host's init reaps it (nspawn, its parent, was killed). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** nspawn's lock files of a root directory: beside it, and under /run named after its inode. */
function locksOf(root: string): string[] {
  const { dev, ino } = statSync(root);
  return [join(root, '..', `.#${basename(root)}.lck`), `/run/systemd/nspawn/locks/inode-${dev}:${ino}`];
}

/** Every cgroup directory named after the instance, in any hierarchy, at any depth below wakegate's tree. */
function cgroupDirsOf(id: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 8) return;
    let entries: string[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const name of entries) {
      if (name === id) found.push(join(dir, name));
      else walk(join(dir, name), depth + 1);
    }
  };
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) walk(join('/sys/fs/cgroup', hierarchy), 0);
  return found;
}

t.test('nspawn runtime', { skip }, async (t) => {
  t.test('an HTTP app via the front: PID 1, uid 65534, the socket at fd 3 with LISTEN_PID=1 and its name', async (t) => {
    const gw = await startGateway(t, { box: nspawnApp(['box.localhost']) }, {}, { realRuntimes: true });
    const reply = await gw.get('box.localhost');
    t.equal(reply.status, 200);
    const body = JSON.parse(reply.body) as { pid: number; uid: number; gid: number; env: Record<string, string>; cwd: string };
    t.equal(body.pid, 1, 'the app is PID 1 of the container');
    t.same([body.uid, body.gid], [65534, 65534], 'setpriv dropped to nobody');
    t.same([body.env.LISTEN_FDS, body.env.LISTEN_PID, body.env.LISTEN_FDNAMES], ['1', '1', 'box']);
    t.equal(body.cwd, '/app');
    const instance = gw.gateway.apps.get('box')!.instance!;
    t.equal(instance.runtime, 'nspawn');
    t.match(instance.id, /^wakegate-box-\d+$/);
    const stats = await instance.stats();
    t.ok(stats.memoryBytes !== null && stats.memoryBytes > 1024 * 1024, `memory of the whole container: ${stats.memoryBytes}`);
  });

  t.test('the sandbox: only lo, nothing of the host network, a read-only root', async (t) => {
    const gw = await startGateway(t, { box: nspawnApp(['box.localhost']) }, {}, { realRuntimes: true });
    const devices = await probe<{ entries: string[] }>(gw, 'box.localhost', 'readdir?path=/sys/class/net');
    t.same(devices.entries, ['lo'], 'the network namespace holds only a loopback');
    const tcp = await probe<{ ok: boolean; code?: string }>(gw, 'box.localhost', `tcp?port=${gw.port}`);
    t.equal(tcp.ok, false, `the gateway's own 127.0.0.1:${gw.port} is out of reach (${tcp.code})`);
    for (const path of ['/wakegate-probe', '/etc/wakegate-probe', '/usr/wakegate-probe', '/app/wakegate-probe']) {
      const write = await probe<{ ok: boolean; code?: string }>(gw, 'box.localhost', `write?path=${path}`);
      t.equal(write.ok, false, `${path} cannot be written (${write.code})`);
    }
    t.same(await probe(gw, 'box.localhost', 'write?path=/tmp/scratch'), { ok: true }, '/tmp is a private tmpfs');
  });

  t.test('socket mode: the echo app gets its TCP socket with LISTEN_PID=self and its name', async (t) => {
    const events = new EventLog();
    const gw = await startGateway(t, { echo: echoApp('oci', { runtime: 'nspawn', listen: [{ address: 'tcp:127.0.0.1:0', name: 'data' }] }) }, {}, { realRuntimes: true, recorder: events });
    t.equal(events.starts('echo'), 0, 'nothing runs before the first connection');
    t.equal(await echo(boundOf(gw, 'echo', 'tcp:127.0.0.1:0'), 'ping\n'), 'ping\n');
    t.same(await listenLine(gw, 'echo'), { fds: '1', pid: 'self', names: 'data' });
  });

  t.test('gunicorn serves on its inherited socket: LISTEN_PID matches, names arrive', async (t) => {
    if (!needTool(t, '/usr/bin/gunicorn', 'gunicorn')) return;
    const app = {
      listen: [{ address: 'tcp:127.0.0.1:0', name: 'web' }],
      command: ['/usr/bin/gunicorn'],
      dir: join(SOCKET_FIXTURES, 'gunicorn'),
      runtime: 'nspawn',
      env: { PYTHONDONTWRITEBYTECODE: '1' },
      startTimeout: '20s',
    };
    const gw = await startGateway(t, { green: app }, {}, { realRuntimes: true, recorder: new EventLog() });
    const port = boundPort(gw, 'green', 'tcp:127.0.0.1:0');
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    t.equal(answer.status, 200);
    const body = JSON.parse(answer.body) as { local: { port: number }; arbiter: number; listenFdNames: string | null };
    t.equal(body.local.port, port, 'accepted on the inherited socket (gunicorn binds nothing when LISTEN_PID is its own)');
    t.equal(body.arbiter, 1, 'the arbiter is PID 1 of the container');
    t.equal(body.listenFdNames, 'web');
  });

  t.test('an idle stop leaves nothing: no process, no cgroup, no machine dir, no mount', async (t) => {
    const events = new EventLog();
    const gw = await startGateway(t, { box: nspawnApp(['box.localhost'], { idleTimeout: '300ms' }) }, {}, { realRuntimes: true, recorder: events });
    t.equal((await gw.get('box.localhost')).status, 200);
    const instance = gw.gateway.apps.get('box')!.instance!;
    const cgroups = new Cgroups(gw.config.runtimeDir);
    const pids = cgroups.pidsOf(instance.id);
    t.ok(pids.length >= 2, `nspawn and the app are in the instance cgroup tree: ${pids.join(' ')}`);
    t.ok(cgroupDirsOf(instance.id).length > 0, 'the instance has cgroups while it runs');
    t.ok(existsSync(join(gw.config.runtimeDir, 'machines', instance.id)), 'and a generated root');
    const locks = locksOf(join(gw.config.runtimeDir, 'machines', instance.id));
    const exit = await instance.exited;
    t.equal(exit.code, 0, 'nspawn passed SIGTERM on and the app exited cleanly');
    t.equal(events.exits.find((e) => e.app === 'box')?.reason, 'idle');
    for (const pid of pids) t.ok(gone(pid), `pid ${pid} is gone: ${existsSync(`/proc/${pid}`) ? readFileSync(`/proc/${pid}/stat`, 'latin1') : ''}`);
    t.same(cgroupDirsOf(instance.id), [], "no cgroup of the instance (nor nspawn's payload and supervisor) in any hierarchy");
    t.same(readdirSync(join(gw.config.runtimeDir, 'machines')), [], 'no machine root');
    t.notOk(existsSync(join('/run/systemd/nspawn/propagate', instance.id)), 'no propagation dir');
    for (const lock of locks) t.notOk(existsSync(lock), `no lock ${lock}`);
    t.notOk(readFileSync('/proc/self/mountinfo', 'utf8').includes(instance.id), 'no mount names the instance');
  });

  t.test('an app that ignores SIGTERM is killed after stopTimeout, with all of its container, and leaves nothing', async (t) => {
    const gw = await startGateway(t, { deaf: nspawnApp(['deaf.localhost'], { env: { MODE: 'ignore-term' }, idleTimeout: '300ms', stopTimeout: '500ms' }) }, {}, { realRuntimes: true });
    t.equal((await gw.get('deaf.localhost')).status, 200);
    const instance = gw.gateway.apps.get('deaf')!.instance!;
    const pids = new Cgroups(gw.config.runtimeDir).pidsOf(instance.id);
    const locks = locksOf(join(gw.config.runtimeDir, 'machines', instance.id));
    const exit = await instance.exited;
    t.equal(exit.signal, 'SIGKILL', 'killed once stopTimeout was over');
    t.ok(gw.lines.some((l) => l.app === 'deaf' && l.msg === 'ignoring SIGTERM'), 'the SIGTERM reached the app inside');
    for (const pid of pids) t.ok(gone(pid), `pid ${pid} is gone: ${existsSync(`/proc/${pid}`) ? readFileSync(`/proc/${pid}/stat`, 'latin1') : ''}`);
    t.same(cgroupDirsOf(instance.id), [], 'no cgroup of the instance in any hierarchy');
    t.same(readdirSync(join(gw.config.runtimeDir, 'machines')), [], 'no machine root');
    t.notOk(existsSync(join('/run/systemd/nspawn/propagate', instance.id)), 'no propagation dir');
    for (const lock of locks) t.notOk(existsSync(lock), `no lock ${lock}`);
  });
});
