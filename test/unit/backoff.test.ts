import t from 'tap';
import { Backoff } from '../../src/activator/backoff.js';

t.test('one crash restarts at once; then 1 s doubling to 60 s', async (t) => {
  const b = new Backoff();
  const delays = Array.from({ length: 9 }, () => b.recordFailure(0, 100));
  t.same(delays, [0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  t.equal(b.remaining(59_000), 1000);
  t.equal(b.remaining(60_000), 0);
});

t.test('30 s of healthy running clears the count', async (t) => {
  const b = new Backoff();
  b.recordFailure(0, 0);
  b.recordFailure(0, 0);
  t.equal(b.recordFailure(0, 29_999), 2000, 'not yet healthy long enough');
  t.equal(b.recordFailure(0, 30_000), 0, 'a crash after a healthy run counts as the first');
  b.recordFailure(0, 0);
  b.recordSuccess(30_000);
  t.equal(b.consecutiveFailures, 0, 'a clean stop after a healthy run clears it too');
});
