import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { MachineCgroup } from '../../src/runtime/machine-cgroup.js';
import { nspawnArgs } from '../../src/runtime/nspawn-args.js';

const dir = mkdtempSync(join(tmpdir(), 'wg-nspawn-args-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(dir, 'bin');
mkdirSync(bin);
writeFileSync(join(bin, 'systemd-nspawn'), '#!/bin/sh\n', { mode: 0o755 });

function app(fields: Record<string, unknown>) {
  const config = validateConfig({ listen: { http: ':0' }, apps: { a: { hosts: ['a.localhost'], command: ['node', 's.mjs'], dir, runtime: 'nspawn', ...fields } } }, join(dir, 'c.yaml'), { env: { PATH: bin }, uid: 0 });
  return config.apps.a!;
}
const layout = { machine: 'wakegate-a-1', directory: join(dir, 'root'), hostRoot: true, fdNames: ['a'] };

t.test('unregistered: --register=no --keep-unit and no property, whatever the limits', async (t) => {
  const argv = nspawnArgs(app({ memory: '64Mi', pids: 32, cpuWeight: 50 }), { ...layout, registered: false });
  t.ok(argv.includes('--register=no') && argv.includes('--keep-unit'));
  t.notOk(argv.some((a) => a.startsWith('--property=') || a.startsWith('--slice=') || a === '--register=yes'));
});

t.test('registered: machined makes the scope under wakegate.slice, with the limits as its properties', async (t) => {
  const argv = nspawnArgs(app({ memory: '64Mi', pids: 32, cpuWeight: 50 }), { ...layout, registered: true });
  t.ok(argv.includes('--register=yes'));
  t.notOk(argv.includes('--keep-unit'), 'not kept in the gateway\'s unit: machined makes machine-<name>.scope');
  t.ok(argv.includes('--slice=wakegate.slice'));
  const options = argv.slice(0, argv.indexOf('--'));
  t.same(options.filter((a) => a.startsWith('--property=')), ['--property=MemoryMax=67108864', '--property=MemorySwapMax=0', '--property=TasksMax=32', '--property=CPUWeight=50']);
  t.same(nspawnArgs(app({}), { ...layout, registered: true }).filter((a) => a.startsWith('--property=')), [], 'no limit, no property');
});

t.test('MachineCgroup: the scope from the leader\'s cgroup line (payload stripped), its counters, else its processes\' RSS', async (t) => {
  // A cgroup2 tree of our own at the path this process is in, under a stand-in root.
  const root = join(dir, 'cgroupfs');
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
  const scope = join(root, own.replace(/\/payload$/, ''));
  mkdirSync(join(scope, 'payload'), { recursive: true });
  writeFileSync(join(root, 'cgroup.controllers'), '');
  writeFileSync(join(scope, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\n');
  writeFileSync(join(scope, 'cgroup.procs'), '');
  writeFileSync(join(scope, 'payload', 'cgroup.procs'), '41\n42\n');
  const cgroup = MachineCgroup.of(process.pid, root)!;
  t.same(cgroup.stats((pid) => pid * 1000), { memoryBytes: 83_000, cpuNs: 1_500_000 }, 'no memory.current: the RSS of every pid in the tree');
  writeFileSync(join(scope, 'memory.current'), '4096\n');
  writeFileSync(join(scope, 'memory.events'), 'oom 1\noom_kill 2\n');
  t.same(cgroup.stats(() => null), { memoryBytes: 4096, cpuNs: 1_500_000 });
  t.equal(cgroup.oomKills(), 2);
  t.equal(MachineCgroup.of(2 ** 22 + 1, root), undefined, 'a leader that is gone');
});
