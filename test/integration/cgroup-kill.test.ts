// killCgroup against the real kernel, through each of its paths: v2 cgroup.kill, v1 freezer, and the
// list-and-kill loop (a v1 tree with the pids hierarchy only). The victim is a shell that put a
// grandchild into a session of its own; both must die.
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Cgroups } from '../../src/runtime/cgroup.js';
import { killCgroup } from '../../src/runtime/cgroup-kill.js';
import { closeFd, pipe, spawn, type ChildHandle } from '../../src/native/index.js';
import { alive } from '../helpers/gateway.js';

const root = process.getuid?.() === 0;

function firstLine(fd: number): Promise<string> {
  const socket = new Socket({ fd, readable: true, writable: false });
  let text = '';
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk) => {
      text += String(chunk);
      if (text.includes('\n')) {
        socket.destroy();
        resolve(text.split('\n')[0]!);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`pipe closed after ${JSON.stringify(text)}`)));
  });
}

async function killsEverything(t: Test, cgroups: Cgroups, inside?: (id: string, pid: number) => void): Promise<void> {
  const id = `wakegate-killtest-${process.pid}`;
  const cgroup = cgroups.create(id);
  const [read, write] = pipe();
  let child: ChildHandle;
  try {
    child = spawn('/bin/sh', ['sh', '-c', 'setsid sleep 1000 & echo $!; exec sleep 1000'], {}, [], { stdio: [0, write, 2], cgroupFd: cgroup.dirFd, cgroupProcs: cgroup.procs });
  } finally {
    closeFd(write);
    for (const fd of cgroup.procs) closeFd(fd);
    if (cgroup.dirFd !== undefined) closeFd(cgroup.dirFd);
  }
  const grandchild = Number(await firstLine(read));
  t.teardown(() => {
    if (alive(grandchild)) process.kill(grandchild, 'SIGKILL');
    cgroups.release(id);
  });
  t.ok(cgroups.pidsOf(id).includes(grandchild), 'the detached grandchild is in the cgroup');
  inside?.(id, child.pid);
  t.equal(await killCgroup(cgroups, id), true, 'the cgroup emptied');
  t.same(await child.exited, { code: null, signal: 'SIGKILL' }, 'the main process was killed');
  t.notOk(alive(grandchild), 'the detached grandchild was killed');
  t.same(cgroups.release(id), [], 'the directories are removed');
  t.same(cgroups.dirsOf(id).filter((dir) => existsSync(dir)), [], 'none is left');
}

t.test('v1, with the freezer', { skip: !root ? 'cgroups need root' : !existsSync('/sys/fs/cgroup/freezer/cgroup.procs') ? 'no v1 freezer here' : false }, async (t) => {
  // Without the hybrid host's unified mount: a host with v1 only.
  const only = mkdtempSync(path.join(os.tmpdir(), 'wg-cgv1-'));
  t.teardown(() => rmSync(only, { recursive: true, force: true }));
  for (const h of ['freezer', 'pids']) symlinkSync(`/sys/fs/cgroup/${h}`, path.join(only, h));
  const cgroups = new Cgroups(`/killtest-v1-${process.pid}`, { root: only, env: {} });
  t.equal(cgroups.version, 1);
  t.equal(cgroups.controlFile('x', 'cgroup.kill'), undefined, 'no cgroup2 to use');
  await killsEverything(t, cgroups);
});

const hybrid = existsSync('/sys/fs/cgroup/freezer/cgroup.procs') && existsSync('/sys/fs/cgroup/unified/cgroup.controllers');
t.test('hybrid: a process instance lives in the unified hierarchy only', { skip: !root ? 'cgroups need root' : !hybrid ? 'not a hybrid host' : false }, async (t) => {
  const cgroups = new Cgroups(`/killtest-hybrid-${process.pid}`, { env: {} });
  t.equal(cgroups.version, 1);
  await killsEverything(t, cgroups, (id, pid) => {
    const unifiedDir = path.join('/sys/fs/cgroup/unified', cgroups.parent, id);
    t.same(cgroups.dirsOf(id).filter((dir) => existsSync(dir)), [unifiedDir], 'its only cgroup is the unified one');
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    t.match(lines, new RegExp(`^0::/${cgroups.parent}/${id}$`, 'm'), 'the child is in it');
    t.notMatch(lines, new RegExp(`^\\d+:[^:]+:.*${id}`, 'm'), 'and in no v1 cgroup of the instance');
  });
});

t.test('v1 without a freezer: list and kill until empty', { skip: !root ? 'cgroups need root' : !existsSync('/sys/fs/cgroup/pids/cgroup.procs') ? 'no v1 pids hierarchy here' : false }, async (t) => {
  const only = mkdtempSync(path.join(os.tmpdir(), 'wg-cgpids-'));
  t.teardown(() => rmSync(only, { recursive: true, force: true }));
  symlinkSync('/sys/fs/cgroup/pids', path.join(only, 'pids'));
  const cgroups = new Cgroups(`/killtest-loop-${process.pid}`, { root: only, env: {} });
  t.equal(cgroups.controlFile('x', 'freezer.state'), undefined, 'no freezer to use');
  await killsEverything(t, cgroups);
});

const unified = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].find((dir) => existsSync(path.join(dir, 'cgroup.controllers')));
t.test('v2, with cgroup.kill', { skip: !root ? 'cgroups need root' : !unified ? 'no cgroup2 mount here' : false }, async (t) => {
  const cgroups = new Cgroups(`/killtest-v2-${process.pid}`, { root: unified, env: {} });
  t.equal(cgroups.version, 2);
  await killsEverything(t, cgroups);
});
