import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/defaults.js';
import { FdBudget, frontConnectionCap, openFileLimit } from '../../src/front/connection-cap.js';
import { EventTally } from '../../src/event-tally.js';
import { TokenBucket } from '../../src/token-bucket.js';

const LIMITS = (soft: string): string =>
  ['Limit                     Soft Limit           Hard Limit           Units', 'Max processes             63455                63455                processes', `Max open files            ${soft}                 524288               files`, ''].join('\n');

t.test('the open-file limit is read from /proc/self/limits: a number, or none when unlimited or unreadable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'n'), LIMITS('1024'));
  writeFileSync(join(dir, 'u'), LIMITS('unlimited'));
  t.equal(openFileLimit(join(dir, 'n')), 1024);
  t.equal(openFileLimit(join(dir, 'u')), undefined);
  t.equal(openFileLimit(join(dir, 'missing')), undefined);
  t.ok((openFileLimit() ?? 0) > 0, 'this process has one');
});

t.test('the front cap leaves the reserve, the held fds and two fds per connection', async (t) => {
  const reserve = DEFAULTS.internal.fdReserve + 16;
  t.equal(frontConnectionCap(1024, 16), Math.floor((1024 - reserve) / 2));
  t.ok(2 * frontConnectionCap(1024, 16)! + reserve <= 1024, 'within the limit');
  t.equal(frontConnectionCap(100, 16), 1, 'never below one');
  t.equal(frontConnectionCap(undefined, 16), undefined, 'no cap without a limit');
});

t.test('the fd budget counts the held sockets and each instance while it exists, not the apps', async (t) => {
  const caps: number[] = [];
  const budget = new FdBudget(20_000, (cap) => caps.push(cap));
  const free = 20_000 - DEFAULTS.internal.fdReserve;
  t.equal(budget.maxConnections, Math.floor(free / 2), 'nothing held yet');
  budget.setSockets(10_000);
  t.equal(budget.maxConnections, Math.floor((free - 10_000) / 2), '10,000 idle apps, one socket each, leave the front half the rest');
  budget.stateChanged('a', 'stopped', 'starting');
  budget.stateChanged('a', 'starting', 'running');
  budget.stateChanged('b', 'stopped', 'starting');
  const two = Math.floor((free - 10_000 - 2 * DEFAULTS.internal.fdReservePerInstance) / 2);
  t.equal(budget.maxConnections, two, 'two instances take their own fds; a change of state within one does not count again');
  budget.stateChanged('a', 'running', 'frozen');
  budget.stateChanged('a', 'frozen', 'stopping');
  budget.stateChanged('a', 'stopping', 'stopped');
  budget.stateChanged('b', 'starting', 'stopped');
  t.equal(budget.maxConnections, Math.floor((free - 10_000) / 2), 'and give them back when gone');
  t.same(caps, [Math.floor((free - 10_000) / 2), Math.floor((free - 10_000 - DEFAULTS.internal.fdReservePerInstance) / 2), two, Math.floor((free - 10_000 - DEFAULTS.internal.fdReservePerInstance) / 2), Math.floor((free - 10_000) / 2)], 'each change reported once');
  t.equal(new FdBudget(undefined).maxConnections, undefined, 'no limit, no cap');
});

t.test('a tally reports each key once per interval, with its count; flush reports at once', async (t) => {
  const reports: Array<[string, number]> = [];
  let reported!: () => void;
  const first = new Promise<void>((resolve) => (reported = resolve));
  const tally = new EventTally(50, (key, count) => (reports.push([key, count]), reported()));
  // The tally's timer is unref'd (it must not hold the gateway open); this one keeps the test alive.
  const alive = setTimeout(() => undefined, 10_000);
  t.teardown(() => clearTimeout(alive));
  for (let i = 0; i < 1000; i++) tally.add('EMFILE');
  tally.add('limit', 5);
  t.same(reports, [], 'nothing before the interval ends');
  await first;
  t.same(reports, [['EMFILE', 1000], ['limit', 5]], 'one report per key');
  tally.add('limit');
  tally.flush();
  t.same(reports.at(-1), ['limit', 1], 'flushed without waiting');
});

t.test('a token bucket allows its burst, then its rate', async (t) => {
  let now = 0;
  const bucket = new TokenBucket(100, 200, () => now);
  let taken = 0;
  while (bucket.take()) taken += 1;
  t.equal(taken, 200, 'the burst');
  now += 50;
  taken = 0;
  while (bucket.take()) taken += 1;
  t.equal(taken, 5, '100 a second: 5 in 50 ms');
  now += 60_000;
  taken = 0;
  while (bucket.take()) taken += 1;
  t.equal(taken, 200, 'never more than the burst after a quiet time');
});
