// The process runtime puts each instance in a cgroup of its own: a process that left the instance's
// session (setsid) still goes with it, at an idle stop and after the gateway was killed outright.
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Cgroups } from '../../src/runtime/cgroup.js';
import os from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../src/config/schema.js';
import { ProcessRuntime } from '../../src/runtime/process.js';
import { alive, captureLogger, FIXTURE_APP, get, until } from '../helpers/gateway.js';
import { runGateway } from '../helpers/cli.js';

const doc = {
  apps: {
    det: { hosts: ['det.localhost'], command: [process.execPath, 'detach.mjs'], dir: FIXTURE_APP, runtime: 'process', idleTimeout: '300ms' },
  },
};

interface Started {
  pid: number;
  grandchild: number;
}

const hybrid = existsSync('/sys/fs/cgroup/freezer/cgroup.procs') && existsSync('/sys/fs/cgroup/unified/cgroup.controllers');

function sessionOf(pid: number): number {
  // /proc/<pid>/stat: pid (comm) state ppid pgrp session ...; comm may hold spaces, so split after ')'.
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]);
}

function existing(cgroups: Cgroups, id: string): string[] {
  return cgroups.dirsOf(id).filter((dir) => existsSync(dir));
}

function killOnTeardown(t: Test, pid: number): void {
  t.teardown(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
}

t.test('an idle stop kills a grandchild that did setsid, and removes the instance cgroup', async (t) => {
  const gw = await runGateway(t, doc);
  t.ok(gw.lines.some((l) => l.msg === '1 app: process' && (l.runtimes as Record<string, string>).det === 'process'), 'start-up says which runtime each app got');
  const started = JSON.parse((await get(gw.port, 'det.localhost')).body) as Started;
  killOnTeardown(t, started.grandchild);
  t.not(sessionOf(started.grandchild), sessionOf(started.pid), 'precondition: the grandchild left the app session');
  const cgroups = new Cgroups(gw.runtimeDir);
  const dirs = existing(cgroups, 'wakegate-det-1');
  t.ok(dirs.length > 0, 'the instance has cgroup directories');
  t.ok(cgroups.pidsOf('wakegate-det-1').includes(started.grandchild), 'the grandchild is in the instance cgroup');
  if (hybrid) {
    t.same(dirs, [`/sys/fs/cgroup/unified/${cgroups.parent}/wakegate-det-1`], 'hybrid host: the instance cgroup is in the unified hierarchy only');
    t.match(readFileSync(`/proc/${started.pid}/cgroup`, 'utf8'), new RegExp(`^0::/${cgroups.parent}/wakegate-det-1$`, 'm'), 'and the app is in it');
  }
  const exit = await gw.waitFor((l) => l.reason === 'idle');
  t.equal(exit.instance, 'wakegate-det-1', 'exit logged with the instance id');
  t.notOk(alive(started.pid), 'the app is gone');
  t.notOk(alive(started.grandchild), 'the detached grandchild is gone');
  t.same(dirs.filter((dir) => existsSync(dir)), [], 'the instance cgroup directories are removed');
  t.same(cgroups.parentDirs(), [], 'the scope is removed once empty');
});

t.test('after the gateway is SIGKILLed, the next start-up kills the instance leftovers and removes their cgroups', async (t) => {
  const first = await runGateway(t, doc);
  const started = JSON.parse((await get(first.port, 'det.localhost')).body) as Started;
  killOnTeardown(t, started.grandchild);
  first.child.kill('SIGKILL');
  await first.exited;
  const cgroups = new Cgroups(first.runtimeDir);
  t.ok(alive(started.grandchild), 'precondition: the detached grandchild outlived the gateway');
  t.ok(existing(cgroups, 'wakegate-det-1').length > 0, 'and so did its cgroup');
  const second = await runGateway(t, doc, first.dir);
  const removed = await second.waitFor((l) => /stale instances of a previous gateway/.test(l.msg));
  t.same(removed.instances, ['wakegate-det-1']);
  t.notOk(alive(started.grandchild), 'the grandchild is gone');
  t.same(existing(cgroups, 'wakegate-det-1'), [], 'its cgroup directories are removed');
  t.equal((await get(second.port, 'det.localhost')).status, 200, 'the app serves again');
});

function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

t.test('hybrid host: memory is the RSS of every process of the instance, CPU its unified cpu.stat', { skip: hybrid ? false : 'not a hybrid host' }, async (t) => {
  const runtimeDir = mkdtempSync(path.join(os.tmpdir(), 'wg-procmem-'));
  t.teardown(() => rmSync(runtimeDir, { recursive: true, force: true }));
  const command = ['/bin/sh', '-c', 'setsid sleep 1000 & echo $!; exec sleep 1000'];
  const spec = validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir, apps: { mem: { hosts: ['mem.localhost'], command, dir: runtimeDir, runtime: 'process' } } }, path.join(runtimeDir, 'x.yaml')).apps.mem!;
  const cgroups = new Cgroups(runtimeDir, { env: {} });
  const { log, waitFor } = captureLogger();
  const instance = await new ProcessRuntime({ cgroups }).start(spec, [], log);
  const grandchild = Number((await waitFor((l) => /^\d+$/.test(l.msg))).msg);
  killOnTeardown(t, grandchild);
  t.teardown(() => instance.stop(0));
  t.same(cgroups.pidsOf(instance.id).sort(), [instance.pid, grandchild].sort(), 'both are in the instance cgroup');
  t.equal(cgroups.memoryBytes(instance.id), null, 'precondition: no memory controller for it');
  // Both still exec'ing (sh into setsid into sleep) change their RSS between two reads: compare once both run sleep.
  await until(() => [instance.pid, grandchild].every((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep'), 10_000, 'both processes to run sleep');
  const stats = await instance.stats();
  t.equal(stats.memoryBytes, rss(instance.pid) + rss(grandchild), 'the sum of both RSS');
  t.type(stats.cpuNs, 'number', 'CPU time from cpu.stat');
  await instance.stop(0);
  t.notOk(alive(grandchild), 'the grandchild is killed at stop');
});
