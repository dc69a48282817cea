// Where instance cgroups go: the hierarchy root by hand, the service's own cgroup under systemd (Delegate=yes).
import { closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Cgroups } from '../../src/runtime/cgroup.js';

const runtimeDir = '/run/wakegate';
const scope = `wakegate/${createHash('sha256').update(runtimeDir).digest('hex').slice(0, 12)}`;
const hybrid = ['9:name=systemd:/system.slice/wakegate.service', '8:pids:/system.slice/wakegate.service', '4:memory:/system.slice/wakegate.service', '0::/system.slice/wakegate.service', ''].join('\n');

function fakeRoot(t: Test, v2: boolean): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-cgroot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  if (v2) writeFileSync(path.join(dir, 'cgroup.controllers'), 'memory pids cpu\n');
  return dir;
}

t.test('outside systemd the tree starts at the hierarchy root, whatever /proc/self/cgroup says', async (t) => {
  const cgroups = new Cgroups(runtimeDir, { root: fakeRoot(t, false), selfCgroup: hybrid, env: {} });
  t.equal(cgroups.delegated, false);
  t.equal(cgroups.parent, scope);
  t.equal(cgroups.claim('wakegate-a-1'), `/${scope}/wakegate-a-1`);
});

t.test('under systemd on v1 (hybrid) the tree follows the name=systemd line of /proc/self/cgroup', async (t) => {
  const cgroups = new Cgroups(runtimeDir, { root: fakeRoot(t, false), selfCgroup: hybrid, env: { INVOCATION_ID: 'abc' } });
  t.equal(cgroups.version, 1);
  t.equal(cgroups.delegated, true);
  t.equal(cgroups.claim('wakegate-a-1'), `/system.slice/wakegate.service/${scope}/wakegate-a-1`);
});

t.test('under systemd on v2 the tree follows the 0:: line, also once the gateway moved into its leaf', async (t) => {
  for (const self of ['0::/system.slice/wakegate.service\n', '0::/system.slice/wakegate.service/gateway\n']) {
    const cgroups = new Cgroups(runtimeDir, { root: fakeRoot(t, true), selfCgroup: self, env: { INVOCATION_ID: 'abc' } });
    t.equal(cgroups.version, 2);
    t.equal(cgroups.parent, `system.slice/wakegate.service/${scope}`, self.trim());
  }
});

t.test('a unit at the root cgroup (no service cgroup to nest in) is not delegated', async (t) => {
  const cgroups = new Cgroups(runtimeDir, { root: fakeRoot(t, true), selfCgroup: '0::/\n', env: { INVOCATION_ID: 'abc' } });
  t.equal(cgroups.delegated, false);
  t.equal(cgroups.parent, scope);
});

t.test('prepare on a delegated v2 tree: the gateway moves into its leaf, controllers are enabled down to the scope', async (t) => {
  const root = fakeRoot(t, true);
  const cgroups = new Cgroups(runtimeDir, { root, selfCgroup: '0::/system.slice/wakegate.service\n', env: { INVOCATION_ID: 'abc' } });
  cgroups.prepare();
  const service = path.join(root, 'system.slice/wakegate.service');
  t.equal(readFileSync(path.join(service, 'gateway/cgroup.procs'), 'utf8'), String(process.pid), 'the gateway left the service cgroup');
  for (const dir of [service, path.join(service, 'wakegate'), path.join(root, cgroups.parent)]) {
    t.ok(existsSync(path.join(dir, 'cgroup.subtree_control')), `controllers enabled in ${path.relative(root, dir)}`);
  }
  t.ok(existsSync(path.join(root, cgroups.parent)), 'the scope exists');
});

t.test('hybrid under systemd: process instances go to the unified hierarchy, at the 0:: line, and only there', async (t) => {
  const root = fakeRoot(t, false);
  for (const dir of ['freezer', 'pids', 'unified']) mkdirSync(path.join(root, dir));
  for (const h of ['freezer', 'pids']) writeFileSync(path.join(root, h, 'cgroup.procs'), '');
  writeFileSync(path.join(root, 'unified/cgroup.controllers'), '');
  const self = hybrid.replace('0::/system.slice/wakegate.service', '0::/system.slice/wakegate.service/unified-side');
  const cgroups = new Cgroups(runtimeDir, { root, selfCgroup: self, env: { INVOCATION_ID: 'abc' } });
  t.equal(cgroups.version, 1);
  const made = cgroups.create('wakegate-a-1');
  t.teardown(() => [...made.procs, made.dirFd!].forEach((fd) => closeSync(fd)));
  t.ok(made.dirFd !== undefined, 'a directory fd for CLONE_INTO_CGROUP');
  t.equal(made.procs.length, 1, 'one cgroup.procs, for the fallback');
  const dir = path.join(root, 'unified/system.slice/wakegate.service/unified-side', scope, 'wakegate-a-1');
  t.ok(existsSync(dir), 'made at the 0:: line of the unified hierarchy');
  t.same(cgroups.dirsOf('wakegate-a-1').filter((d) => existsSync(d)), [dir], 'no v1 directory made');
  t.equal(cgroups.controlFile('wakegate-a-1', 'cgroup.procs'), path.join(dir, 'cgroup.procs'), 'control files are the unified ones');
  t.same(cgroups.leftovers(), ['wakegate-a-1'], 'start-up clean-up finds it');
});
