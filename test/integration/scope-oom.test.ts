// ScopeOomWatch against the host's own v1 memory controller, with the cgroup a scope would have made by
// hand: the orders in which systemd and the gateway can see a scope end are forced here, which a booted
// systemd (test/systemd/systemd-memory.test.ts) leaves to chance. spawnSync blocks the event loop, so the
// watch sees nothing of the OOM until settle(): the case where the exit and the cgroup's removal outran it.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../../src/log.js';
import { ScopeOomWatch } from '../../src/runtime/scope-oom.js';
import { ownMemoryCgroup } from '../helpers/systemd-machine.js';

const skip = process.getuid?.() !== 0 ? 'needs root to make a memory cgroup'
  : !existsSync('/sys/fs/cgroup/memory/cgroup.procs') ? 'no v1 memory hierarchy on this host (cgroup2: systemd reports oom-kill itself)' : false;
const ALLOC = 'const a = []; for (let i = 0; i < 25; i++) a.push(Buffer.alloc(8 * 1024 * 1024, 1));';
const log = createLogger('silent');

/** A scope-like v1 memory cgroup with a 64 MiB limit, and a watch opened on it through a process inside. */
async function scope(t: Test): Promise<{ dir: string; watch: ScopeOomWatch }> {
  const unit = `wg-oom-${randomBytes(4).toString('hex')}.scope`;
  const dir = join(ownMemoryCgroup(), unit);
  mkdirSync(dir);
  t.teardown(() => { if (existsSync(dir)) rmdirSync(dir); });
  writeFileSync(join(dir, 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
  await new Promise((resolve) => holder.once('spawn', resolve));
  writeFileSync(join(dir, 'cgroup.procs'), String(holder.pid));
  const watch = ScopeOomWatch.open(holder.pid!, unit, log);
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  if (!watch) throw new Error(`no watch on ${dir}`);
  return { dir, watch };
}

/** Runs `script` in the cgroup, blocking the event loop until it has exited. */
function runIn(dir: string, script: string): NodeJS.Signals | null {
  return spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs; ${script}`], { stdio: 'ignore' }).signal;
}

t.test('the OOM kill, with the cgroup still there at the exit', { skip }, async (t) => {
  const { dir, watch } = await scope(t);
  t.equal(runIn(dir, `exec node -e '${ALLOC}'`), 'SIGKILL', 'the kernel killed the allocation');
  t.equal(await watch.settle({ code: null, signal: 'SIGKILL' }), true);
});

/**
 * Blocks the loop for a while after the cgroup's removal, so that the kernel's notice of it (sent some ms
 * after the rmdir, from a work queue) has landed when the watch looks: then it sees the OOM's and the
 * removal's notices at once. Should it land later, the answer expected is the same; only that order
 * would then go unexercised.
 */
const letRemovalLand = (): void => void spawnSync('sleep', ['0.3']);

for (const removalSeen of [false, true]) {
  const when = removalSeen ? 'its removal already notified' : 'its removal not yet notified';
  t.test(`the OOM kill, with the cgroup removed before the gateway looked (systemd first), ${when}`, { skip }, async (t) => {
    const { dir, watch } = await scope(t);
    t.equal(runIn(dir, `exec node -e '${ALLOC}'`), 'SIGKILL');
    rmdirSync(dir);
    if (removalSeen) letRemovalLand();
    t.equal(await watch.settle({ code: null, signal: 'SIGKILL' }), true);
  });

  t.test(`a SIGKILL that is no OOM kill, the cgroup removed first, ${when}: not oom`, { skip }, async (t) => {
    const { dir, watch } = await scope(t);
    t.equal(runIn(dir, 'kill -KILL $$'), 'SIGKILL');
    rmdirSync(dir);
    if (removalSeen) letRemovalLand();
    t.equal(await watch.settle({ code: null, signal: 'SIGKILL' }), false);
  });
}

t.test('a clean exit under the limit: not oom', { skip }, async (t) => {
  const { dir, watch } = await scope(t);
  t.equal(runIn(dir, 'exit 0'), null);
  t.equal(await watch.settle({ code: 0, signal: null }), false);
});

t.test('no watch for a process outside the unit\'s memory cgroup', { skip }, async (t) => {
  t.equal(ScopeOomWatch.open(process.pid, 'wakegate-none-1.scope', log), undefined);
});
