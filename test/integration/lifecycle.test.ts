import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alive, fixtureApp, get, until } from '../helpers/gateway.js';
import { CLI, runGateway } from '../helpers/cli.js';

const exec = promisify(execFile);

t.test('SIGHUP reload: added apps appear, removed apps are drained and their sockets removed', async (t) => {
  const gw = await runGateway(t, { apps: { keep: fixtureApp(['keep.localhost']), gone: fixtureApp(['gone.localhost']) } });
  const kept = JSON.parse((await get(gw.port, 'keep.localhost')).body) as { pid: number };
  const gone = JSON.parse((await get(gw.port, 'gone.localhost')).body) as { pid: number };
  const inflight = get(gw.port, 'gone.localhost', '/slow?ms=800');
  await new Promise((r) => setTimeout(r, 100));
  gw.writeConfig({ apps: { keep: fixtureApp(['keep.localhost']), fresh: fixtureApp(['fresh.localhost']) } });
  process.kill(gw.pid, 'SIGHUP');
  const reloaded = await gw.waitFor((l) => l.msg === 'config reloaded');
  t.same(reloaded.added, ['fresh']);
  t.same(reloaded.removed, ['gone']);
  t.same(reloaded.changed, []);
  t.equal((await inflight).status, 200, 'the in-flight request of the removed app completes');
  t.equal((await get(gw.port, 'fresh.localhost')).status, 200, 'the added app serves');
  t.equal((await get(gw.port, 'gone.localhost')).status, 404, 'the removed app is gone');
  await until(() => !alive(gone.pid), 5000, 'removed app stopped');
  await until(() => !existsSync(join(gw.runtimeDir, 'apps/gone.sock')), 5000, 'socket removed');
  t.ok(existsSync(join(gw.runtimeDir, 'apps/fresh.sock')));
  const again = JSON.parse((await get(gw.port, 'keep.localhost')).body) as { pid: number };
  t.equal(again.pid, kept.pid, 'the unchanged app kept its instance');
});

t.test('reload: a changed app keeps its instance and uses the new spec at its next start', async (t) => {
  const gw = await runGateway(t, { apps: { app: fixtureApp(['app.localhost'], { env: { V: '1' }, idleTimeout: '300ms' }) } });
  const before = JSON.parse((await get(gw.port, 'app.localhost')).body) as { pid: number; env: Record<string, string> };
  gw.writeConfig({ apps: { app: fixtureApp(['app.localhost'], { env: { V: '2' }, idleTimeout: '300ms' }) } });
  process.kill(gw.pid, 'SIGHUP');
  const reloaded = await gw.waitFor((l) => l.msg === 'config reloaded');
  t.same(reloaded.changed, ['app']);
  const during = JSON.parse((await get(gw.port, 'app.localhost')).body) as { pid: number; env: Record<string, string> };
  t.equal(during.pid, before.pid, 'running instance untouched');
  t.equal(during.env.V, '1');
  await gw.waitFor((l) => l.reason === 'idle');
  const after = JSON.parse((await get(gw.port, 'app.localhost')).body) as { env: Record<string, string> };
  t.equal(after.env.V, '2', 'new spec at the next start');
});

t.test('reload: an invalid config is rejected with its errors, and the old one keeps serving', async (t) => {
  const gw = await runGateway(t, { apps: { app: fixtureApp(['app.localhost']) } });
  writeFileSync(gw.configFile, JSON.stringify({ listen: { http: '127.0.0.1:0' }, apps: { app: { hosts: [], command: 'nope' } } }));
  process.kill(gw.pid, 'SIGHUP');
  const failed = await gw.waitFor((l) => /failed to reload config/.test(l.msg));
  const paths = (failed.issues as Array<{ path: string }>).map((i) => i.path);
  t.ok(paths.includes('apps.app.hosts') && paths.includes('apps.app.command'), 'errors logged with their paths');
  t.equal((await get(gw.port, 'app.localhost')).status, 200, 'old config serves');
});

t.test('shutdown on SIGTERM: in-flight requests finish, no child outlives the gateway, sockets removed, exit 0', async (t) => {
  const gw = await runGateway(t, {
    shutdownTimeout: '3s',
    apps: {
      polite: fixtureApp(['polite.localhost']),
      stubborn: fixtureApp(['stubborn.localhost'], { env: { MODE: 'ignore-term' }, stopTimeout: '300ms' }),
    },
  });
  const polite = JSON.parse((await get(gw.port, 'polite.localhost')).body) as { pid: number };
  const stubborn = JSON.parse((await get(gw.port, 'stubborn.localhost')).body) as { pid: number };
  const inflight = get(gw.port, 'polite.localhost', '/slow?ms=700');
  await new Promise((r) => setTimeout(r, 100));
  gw.child.kill('SIGTERM');
  t.equal((await inflight).status, 200, 'the in-flight request finished');
  const exit = await gw.exited;
  t.same(exit, { code: 0, signal: null }, 'exit 0');
  t.notOk(alive(polite.pid), 'polite instance gone');
  t.notOk(alive(stubborn.pid), 'an instance ignoring SIGTERM is gone too');
  t.notOk(existsSync(join(gw.runtimeDir, 'apps/polite.sock')), 'sockets removed');
  t.ok(gw.lines.some((l) => l.app === 'stubborn' && l.reason === 'shutdown' && l.signal === 'SIGKILL'), 'killed after its grace');
  t.ok(
    gw.lines.some((l) => l.level === 40 && l.msg === 'did not exit within stopTimeout, killing' && l.instance === 'wakegate-stubborn-1'),
    'the escalation is logged at warn, with the instance',
  );
  t.notOk(gw.lines.some((l) => l.instance === 'wakegate-polite-1' && /did not exit/.test(String(l.msg))), 'not for the polite one');
});

t.test('wakegate check: exit 0 for a valid file, 1 with every error listed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, `listen: { http: "127.0.0.1:8080" }\napps:\n  hello:\n    hosts: [hello.localhost]\n    command: [node, server.mjs]\n    dir: ${dir}\n`);
  const ok = await exec(process.execPath, [CLI, 'check', '-c', good]);
  t.match(ok.stdout, /ok \(1 apps\)/);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `listen: { http: "127.0.0.1:99999" }\napps:\n  hello:\n    hosts: [hello.localhost]\n    command: [node]\n    dir: ${dir}\n    memory: lots\n    idleTimeout: 30\n`);
  const failed = await exec(process.execPath, [CLI, 'check', '-c', bad]).catch((e: { code: number; stderr: string }) => e);
  t.equal((failed as { code: number }).code, 1);
  const stderr = (failed as { stderr: string }).stderr;
  t.match(stderr, /listen\.http: /);
  t.match(stderr, /apps\.hello\.memory: expected a size like 128Mi, got "lots"/);
  t.match(stderr, /apps\.hello\.idleTimeout: expected a duration like 30s, got 30/);
});
