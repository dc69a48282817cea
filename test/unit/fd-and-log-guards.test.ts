import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/defaults.js';
import { frontConnectionCap, openFileLimit } from '../../src/front/connection-cap.js';
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

t.test('the front cap leaves the reserve and two fds per connection', async (t) => {
  const reserve = DEFAULTS.internal.fdReserve + 2 * DEFAULTS.internal.fdReservePerApp;
  t.equal(frontConnectionCap(2, 1024), Math.floor((1024 - reserve) / 2));
  t.ok(2 * frontConnectionCap(2, 1024)! + reserve <= 1024, 'within the limit');
  t.equal(frontConnectionCap(2, 100), 1, 'never below one');
  t.equal(frontConnectionCap(2, undefined), undefined, 'no cap without a limit');
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
