import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { alive, FIXTURE_APP, get, startGateway, until } from '../helpers/gateway.js';
import { runGateway } from '../helpers/cli.js';
import { findTool, missingTool } from '../helpers/tools.js';
import { Cgroups } from '../../src/runtime/cgroup.js';
import { sharesFromWeight } from '../../src/runtime/bundle.js';
import { snapshot } from '../../src/admin/snapshot.js';

const runc = findTool('runc');
const skip = missingTool('runc', 'runc') || (process.getuid?.() !== 0 ? 'containers need root' : false);

/** The fixture app in a container; the bundle is generated from this spec. */
const containerApp = (hosts: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  hosts,
  command: ['node', 'app.mjs'],
  dir: FIXTURE_APP,
  runtime: 'oci',
  ...extra,
});

interface Probe {
  ok?: boolean;
  code?: string;
  exists?: boolean;
  pids?: number[];
  started?: number;
  failed?: number;
}

const containers = (runtimeDir: string): string[] =>
  execFileSync(runc!, ['--root', join(runtimeDir, 'runc'), 'list', '--quiet'], { encoding: 'utf8' }).split('\n').filter(Boolean);

const cgroupDirs = (runtimeDir: string, id: string): string[] => {
  const parent = new Cgroups(runtimeDir).parent;
  return ['memory', 'pids', 'cpu', 'unified', ''].map((h) => join('/sys/fs/cgroup', h, parent, id)).filter((dir) => existsSync(dir));
};

t.test('containers', { skip }, async (t) => {
  t.test('a cold start in a container is served, as uid 65534, with the socket as fd 3', async (t) => {
    const gw = await startGateway(t, { box: containerApp(['box.localhost']) }, {}, { realRuntimes: true });
    const reply = await gw.get('box.localhost');
    t.equal(reply.status, 200);
    const body = JSON.parse(reply.body) as { pid: number; uid: number; gid: number; env: Record<string, string>; cwd: string };
    t.equal(body.pid, 1, 'the app is PID 1 of its own pid namespace');
    t.equal(body.uid, 65534);
    t.equal(body.gid, 65534);
    t.equal(body.env.LISTEN_FDS, '1');
    t.equal(body.env.LISTEN_PID, '1');
    t.equal(body.env.LISTEN_FDNAMES, 'box');
    t.equal(body.cwd, '/app');
    const instance = gw.gateway.apps.get('box')!.instance!;
    t.match(instance.id, /^wakegate-box-\d+$/);
    const stats = await instance.stats();
    t.ok(stats.memoryBytes !== null && stats.memoryBytes > 1024 * 1024, `memory read from the cgroup: ${stats.memoryBytes}`);
  });

  t.test('the sandbox: no network but the socket, read-only / and /etc, and other apps invisible', async (t) => {
    const host = createServer((s) => s.destroy());
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    t.teardown(() => host.close());
    let hostConnections = 0;
    host.on('connection', () => (hostConnections += 1));
    const port = (host.address() as { port: number }).port;
    const gw = await startGateway(t, { one: containerApp(['one.localhost']), two: containerApp(['two.localhost']) }, {}, { realRuntimes: true });
    const probe = async (app: string, what: string): Promise<Probe> => JSON.parse((await gw.get(`${app}.localhost`, `/probe/${what}`)).body) as Probe;

    const tcp = await probe('one', `tcp?port=${port}`);
    t.equal(tcp.ok, false, `connect to the host's 127.0.0.1:${port} fails (${tcp.code})`);
    t.equal(hostConnections, 0, 'nothing reached the host');
    for (const path of ['/etc/wakegate-probe', '/wakegate-probe', '/app/wakegate-probe', '/usr/wakegate-probe']) {
      const write = await probe('one', `write?path=${path}`);
      t.same(write, { ok: false, code: 'EROFS' }, `${path} is read-only`);
    }
    t.same(await probe('one', 'write?path=/tmp/scratch'), { ok: true }, '/tmp is a private tmpfs');

    const two = JSON.parse((await gw.get('two.localhost')).body) as { pid: number };
    const twoHostPid = gw.gateway.apps.get('two')!.instance!.pid;
    const ps = await probe('one', 'ps');
    t.same(ps.pids, [1], 'app one sees only its own process');
    t.equal(two.pid, 1);
    t.notOk(ps.pids!.includes(twoHostPid), "nor app two's runc");
    const twoSocket = gw.gateway.apps.socketPath('two')!;
    t.same(await probe('one', `exists?path=${twoSocket}`), { exists: false }, "app two's socket path does not exist for app one");
    t.same(await probe('one', `exists?path=${gw.config.runtimeDir}`), { exists: false }, 'nor the runtime dir');
  });

  t.test('the memory limit ends in an OOM exit, and the next request starts the app again', async (t) => {
    const gw = await startGateway(t, { hog: containerApp(['hog.localhost'], { memory: '64Mi' }) }, {}, { realRuntimes: true });
    t.equal((await gw.get('hog.localhost')).status, 200);
    const hog = await gw.get('hog.localhost', '/probe/alloc?mb=512');
    t.equal(hog.status, 502, 'the request that blew the limit gets 502');
    await until(() => gw.lines.some((l) => l.app === 'hog' && l.reason === 'oom'), 5000, 'oom exit');
    const exit = gw.lines.find((l) => l.app === 'hog' && l.reason === 'oom')!;
    t.equal(exit.signal, 'SIGKILL', 'killed by the OOM killer');
    t.equal((await gw.get('hog.localhost')).status, 200, 'started again');
  });

  t.test('the pids limit holds; memory (swap included) and CPU weight reach the cgroup', async (t) => {
    const gw = await startGateway(t, { forky: containerApp(['forky.localhost'], { pids: 32, memory: '96Mi', cpuWeight: 200 }) }, {}, { realRuntimes: true });
    const result = JSON.parse((await gw.get('forky.localhost', '/probe/spawn?n=64')).body) as Probe & { code?: string };
    t.ok(result.failed! > 0, `${result.failed} of 64 forks refused (${result.code})`);
    t.ok(result.started! < 32, `${result.started} started`);
    const id = gw.gateway.apps.get('forky')!.instance!.id;
    const cgroups = new Cgroups(gw.config.runtimeDir);
    const read = (controller: string, file: string): string =>
      readFileSync(join('/sys/fs/cgroup', cgroups.version === 2 ? '' : controller, cgroups.parent, id, file), 'utf8').trim();
    if (cgroups.version === 1) {
      t.equal(read('pids', 'pids.max'), '32');
      t.equal(read('memory', 'memory.limit_in_bytes'), String(96 * 1024 ** 2));
      t.equal(read('memory', 'memory.memsw.limit_in_bytes'), String(96 * 1024 ** 2), 'no swap beyond the limit');
      t.equal(read('cpu', 'cpu.shares'), String(sharesFromWeight(200)));
    } else {
      t.equal(read('', 'pids.max'), '32');
      t.equal(read('', 'memory.max'), String(96 * 1024 ** 2));
      t.equal(read('', 'memory.swap.max'), '0', 'no swap beyond the limit');
      t.equal(read('', 'cpu.weight'), '200');
    }
  });

  t.test('an idle stop leaves no container, no process and no cgroup', async (t) => {
    const gw = await startGateway(t, { nap: containerApp(['nap.localhost'], { idleTimeout: '300ms' }) }, {}, { realRuntimes: true });
    t.equal((await gw.get('nap.localhost')).status, 200);
    const instance = gw.gateway.apps.get('nap')!.instance!;
    t.same(containers(gw.config.runtimeDir), [instance.id], 'listed by runc while running');
    t.ok(cgroupDirs(gw.config.runtimeDir, instance.id).length > 0, 'has cgroups while running');
    await until(() => gw.gateway.apps.get('nap')!.state === 'stopped', 5000, 'idle stop');
    t.same(containers(gw.config.runtimeDir), [], 'no container in runc list');
    t.notOk(alive(instance.pid), 'no runc process');
    t.same(cgroupDirs(gw.config.runtimeDir, instance.id), [], 'no cgroup directory');
    t.ok(gw.lines.some((l) => l.app === 'nap' && l.reason === 'idle' && l.code === 0), 'the app exited 0 on SIGTERM');
    t.equal((await gw.get('nap.localhost')).status, 200, 'and starts again');
  });

  t.test('a gateway killed with SIGKILL and restarted removes the stale containers and serves again', async (t) => {
    const doc = { apps: { stale: containerApp(['stale.localhost'], { env: { MODE: 'ignore-term' } }) } };
    const first = await runGateway(t, doc);
    t.equal((await get(first.port, 'stale.localhost')).status, 200);
    const old = containers(first.runtimeDir);
    t.equal(old.length, 1);
    first.child.kill('SIGKILL');
    await first.exited;
    t.same(containers(first.runtimeDir), old, 'the container outlived the gateway (it ignores SIGTERM)');
    const second = await runGateway(t, doc, first.dir);
    const cleaned = await second.waitFor((l) => /stale instances of a previous gateway/.test(l.msg));
    t.same(cleaned.instances, old, 'removed at start-up');
    t.same(containers(second.runtimeDir), [], 'nothing left in runc list');
    t.same(cgroupDirs(second.runtimeDir, old[0]!), [], 'nor in the cgroups');
    t.equal((await get(second.port, 'stale.localhost')).status, 200, 'serves again');
  });

  t.test('a user-supplied bundle runs as its config says, with only the socket plumbing added', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wg-bundle-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync(runc!, ['spec', '--bundle', dir]);
    const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      process: { args: string[]; terminal: boolean; env: string[] };
      mounts: Array<Record<string, unknown>>;
    };
    t.equal(spec.process.terminal, true, 'runc spec asks for a terminal, which wakegate turns off');
    spec.process.args = ['node', '/app/app.mjs'];
    spec.process.env.push('FROM_BUNDLE=yes');
    for (const [destination, source] of [['/usr', '/usr'], ['/etc', '/etc'], ['/app', FIXTURE_APP]]) {
      spec.mounts.push({ destination, type: 'bind', source, options: ['rbind', 'ro'] });
    }
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
    mkdirSync(join(dir, 'rootfs'));
    for (const link of ['bin', 'lib', 'lib64']) symlinkSync(`usr/${link}`, join(dir, 'rootfs', link));
    const gw = await startGateway(t, { own: { hosts: ['own.localhost'], bundle: dir } }, {}, { realRuntimes: true });
    const reply = await gw.get('own.localhost');
    t.equal(reply.status, 200);
    const body = JSON.parse(reply.body) as { pid: number; uid: number; env: Record<string, string> };
    t.equal(body.pid, 1);
    t.equal(body.uid, 0, "the bundle's own user");
    t.equal(body.env.FROM_BUNDLE, 'yes', "the bundle's own environment");
    t.equal(body.env.LISTEN_FDNAMES, 'own');
    t.equal(body.env.LISTEN_PID, '1');
    t.same(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), spec, "the user's bundle is left untouched");
  });

  t.test('runtime auto runs containers where an OCI runtime is installed', async (t) => {
    const gw = await startGateway(t, { auto: containerApp(['auto.localhost'], { runtime: 'auto' }) }, {}, { realRuntimes: true });
    t.equal((JSON.parse((await gw.get('auto.localhost')).body) as { pid: number }).pid, 1, 'in a pid namespace');
    t.notOk(gw.lines.some((l) => /plain processes/.test(l.msg)), 'no fallback warning');
    const version = /^(\S+) version (\S+)/.exec(execFileSync(runc!, ['--version'], { encoding: 'utf8' }))!;
    t.ok(gw.lines.some((l) => l.msg === `1 app: oci (${version[1]} ${version[2]})`), 'the start-up summary names the runtime and its version');
    t.match(await snapshot(gw.gateway.apps.get('auto')!), { runtime: 'oci', runtimeConfigured: 'auto' }, 'the app JSON shows the runtime in use');
  });

  t.test('a stop that needs SIGKILL says so at warn; shutdown removes the generated bundles and the cgroup scope', async (t) => {
    const gw = await runGateway(t, { apps: { deaf: containerApp(['deaf.localhost'], { env: { MODE: 'ignore-term' }, stopTimeout: '300ms' }) } });
    t.equal((await get(gw.port, 'deaf.localhost')).status, 200);
    t.ok(existsSync(join(gw.runtimeDir, 'bundles/deaf/config.json')), 'a generated bundle while running');
    gw.child.kill('SIGTERM');
    t.same(await gw.exited, { code: 0, signal: null });
    const warned = gw.lines.find((l) => l.msg === 'did not exit within stopTimeout, killing');
    t.match(warned, { level: 40, instance: 'wakegate-deaf-1', stopTimeoutMs: 300 }, 'logged at warn with the instance');
    t.same(readdirSync(join(gw.runtimeDir, 'bundles')), [], 'no bundle left');
    t.same(new Cgroups(gw.runtimeDir).parentDirs(), [], 'no cgroup directory left');
  });
});

t.test('runtime auto without an OCI runtime: plain processes, and one warning', async (t) => {
  const gw = await startGateway(
    t,
    { a: containerApp(['a.localhost'], { runtime: 'auto' }), b: containerApp(['b.localhost'], { runtime: 'auto' }) },
    {},
    { realRuntimes: true, env: { PATH: '/nonexistent' } },
  );
  t.not((JSON.parse((await gw.get('a.localhost')).body) as { pid: number }).pid, 1, 'a plain process');
  const warnings = gw.lines.filter((l) => /plain processes/.test(l.msg));
  t.equal(warnings.length, 1, 'one warning line');
  t.match(warnings[0]?.msg, /apt-get install runc/);
  t.ok(gw.lines.some((l) => l.msg === '2 apps: process'), 'the start-up summary says what auto became');
  t.match(await snapshot(gw.gateway.apps.get('b')!), { state: 'stopped', runtime: 'process', runtimeConfigured: 'auto' }, 'also for a stopped app');
});
