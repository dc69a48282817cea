import t, { type Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { alive, get, ROOT, until, type LogLine } from '../helpers/gateway.js';
import { CLI, followLog } from '../helpers/cli.js';

const exec = promisify(execFile);
const DEMO = join(ROOT, 'examples/wakegate.yaml');

interface Demo {
  listen: { http: string };
  admin?: { listen: string };
  runtimeDir: string;
  apps: Record<string, { dir: string }>;
}

/** The Quick start demo as written, on ports the kernel picks and a temp runtimeDir, so tests never collide. */
function demoCopy(dir: string): string {
  const doc = parse(readFileSync(DEMO, 'utf8')) as Demo;
  doc.listen.http = '127.0.0.1:0';
  if (doc.admin) doc.admin.listen = '127.0.0.1:0';
  doc.runtimeDir = join(dir, 'run');
  for (const app of Object.values(doc.apps)) app.dir = resolve(dirname(DEMO), app.dir);
  const file = join(dir, 'demo.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

const refused = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), done(false)));
    socket.once('error', () => done(true));
  });

/** `npm start` on a copy of the demo, as its own process group (as a terminal runs it). */
async function npmStart(t: Test): Promise<{ npm: ReturnType<typeof spawn>; gateway: number; port: number; admin: string; lines: LogLine[]; waitFor: ReturnType<typeof followLog>['waitFor'] }> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-npm-'));
  const npm = spawn('npm', ['start'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WAKEGATE_CONFIG: demoCopy(dir) } });
  const { lines, waitFor } = followLog(npm);
  let gateway = 0;
  t.teardown(async () => {
    // Whatever survived (before the fix: the orphaned gateway), stopped the way a user would.
    for (const pid of [npm.pid!, gateway]) if (pid && alive(pid)) process.kill(pid, 'SIGTERM');
    await until(() => ![npm.pid!, gateway].some((pid) => pid && alive(pid)), 15_000, 'npm and the gateway to exit').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const ready = await waitFor((l) => l.msg === 'wakegate listening', 20_000);
  gateway = ready.pid as number;
  const admin = (await waitFor((l) => l.msg === 'admin listening')).address as { port: number };
  return { npm, gateway, port: (ready.address as { port: number }).port, admin: `127.0.0.1:${admin.port}`, lines, waitFor };
}

t.test('the Quick start demo has a loopback admin listener, and `wakegate status` reads it', async (t) => {
  const demo = parse(readFileSync(DEMO, 'utf8')) as Demo;
  t.equal(demo.admin?.listen, '127.0.0.1:9090', "on loopback, at the address status asks by default");
  const run = await npmStart(t);
  t.equal((await get(run.port, 'hello.localhost')).status, 200, 'hello serves');
  const { stdout } = await exec(process.execPath, [CLI, 'status', '--admin', run.admin]);
  t.match(stdout, /^APP\s+STATE/, `status prints its table:\n${stdout}`);
  t.match(stdout, /\nhello\s+running\s+\d+/, 'hello is running, with its pid');
  t.match(stdout, /\npy\s+stopped/, 'py is stopped (nothing asked for it)');
});

for (const how of ['SIGTERM to npm', 'SIGINT to the process group (Ctrl-C)'] as const) {
  t.test(`npm start, then ${how}: the gateway shuts down cleanly and nothing is left`, async (t) => {
    const run = await npmStart(t);
    t.not(run.gateway, run.npm.pid, 'the gateway is a process of its own');
    const hello = await get(run.port, 'hello.localhost');
    t.equal(hello.status, 200);
    const app = (await run.waitFor((l) => l.app === 'hello' && l.msg.startsWith('cold start'))).instance as string;
    const { stdout } = await exec(process.execPath, [CLI, 'status', '--admin', run.admin, '--json']);
    const pid = (JSON.parse(stdout) as Array<{ name: string; instance: { pid: number } | null }>).find((a) => a.name === 'hello')!.instance!.pid;
    const npmExited = new Promise((done) => run.npm.once('exit', done));
    if (how === 'SIGTERM to npm') run.npm.kill('SIGTERM');
    else process.kill(-run.npm.pid!, 'SIGINT');
    await npmExited;
    await until(() => !alive(run.gateway), 15_000, `the gateway (pid ${run.gateway}) to exit`);
    t.notOk(alive(run.gateway), 'the gateway exited with npm');
    t.ok(run.lines.some((l) => l.msg === 'shutdown complete'), 'after a complete shutdown');
    t.notOk(run.lines.some((l) => l.msg === 'second signal, exiting without waiting'), 'one Ctrl-C is one stop, though it arrives twice');
    t.match(run.lines.find((l) => l.app === 'hello' && l.reason === 'shutdown'), { instance: app }, 'the instance was stopped for the shutdown');
    t.ok(await refused(run.port), 'the front port is released');
    t.notOk(alive(pid), `the instance's process (pid ${pid}) is gone`);
  });
}
