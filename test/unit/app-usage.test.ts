// The socket-mode idle rule on given kernel numbers: what counts as use, what does not, and when an accept
// queue counts as stuck. The kernel side is covered by test/integration/socket-idle.test.ts.
import t from 'tap';
import { AppUsage, type UsageInputs } from '../../src/socket/app-usage.js';
import type { ListenerCounters } from '../../src/socket/kernel-counters.js';

const tcp = (connections: number, bytesMoved: number, acceptQueue = 0): ListenerCounters => ({ connections, bytes: bytesMoved, bytesMoved, queuedBytes: 0, acceptQueue });
const unix = (connections: number, queuedBytes = 0, acceptQueue = 0): ListenerCounters => ({ connections, bytes: null, bytesMoved: null, queuedBytes, acceptQueue });

function inputs(now: number, cpuNs: number | null, busyCpu = 0.02): UsageInputs & { reads: number } {
  const i = { busyCpu, intervalMs: 1000, now, reads: 0, readCpuNs: async () => (i.reads++, cpuNs) };
  return i;
}

t.test('TCP: a connection that opens is use, one that stays silent is not, moving bytes is', async (t) => {
  const u = new AppUsage('i1');
  t.match(await u.judge([tcp(1, 100)], inputs(1000, 0)), { connections: 1, busy: true });
  const quiet = inputs(2000, 0);
  t.match(await u.judge([tcp(1, 0)], quiet), { connections: 1, busy: false });
  t.equal(quiet.reads, 0, 'TCP byte counts decide: the CPU time is not read');
  t.match(await u.judge([tcp(1, 1)], inputs(3000, 0)), { busy: true });
  t.match(await u.judge([tcp(0, 0)], inputs(4000, 0)), { connections: 0, busy: true }, 'a close is a change');
  t.match(await u.judge([tcp(0, 0)], inputs(5000, 0)), { connections: 0, busy: false });
});

t.test('Unix: queued bytes are use; otherwise the CPU share since the previous reading decides', async (t) => {
  const u = new AppUsage('i1');
  t.match(await u.judge([unix(1)], inputs(1000, 5e6)), { busy: true }, 'the new connection');
  t.match(await u.judge([unix(1, 10)], inputs(2000, 5e6)), { busy: true }, 'bytes waiting to be read');
  // 1 ms of CPU over 1 s is 0.1% of a core: below 2%.
  t.match(await u.judge([unix(1)], inputs(3000, 6e6)), { busy: false }, 'a first reading is only a baseline');
  t.match(await u.judge([unix(1)], inputs(4000, 7e6)), { busy: false });
  // 50 ms over 1 s is 5%.
  t.match(await u.judge([unix(1)], inputs(5000, 57e6)), { busy: true });
  t.match(await u.judge([unix(1)], inputs(6000, 57e6 + 20e6)), { busy: true }, 'exactly 2% counts');
  t.match(await u.judge([unix(1)], inputs(9000, 500e6)), { busy: false }, 'a reading older than two intervals is a new baseline');
  t.match(await u.judge([unix(1)], inputs(10_000, 500e6)), { busy: false }, 'no CPU: idle with an open connection');
  const none = inputs(11_000, null);
  t.match(await u.judge([unix(1)], none), { busy: false }, 'an unreadable CPU time is not use');
  const closed = inputs(12_000, 0);
  t.match(await u.judge([unix(0)], closed), { busy: true });
  t.match(await u.judge([unix(0)], inputs(13_000, 0)), { busy: false });
  t.equal(closed.reads, 0, 'no connection: the CPU time is not read');
});

t.test('busyCpu 0: any open byte-less connection keeps the app up', async (t) => {
  const u = new AppUsage('i1');
  await u.judge([unix(1)], inputs(1000, 0, 0));
  await u.judge([unix(1)], inputs(2000, 0, 0));
  t.match(await u.judge([unix(1)], inputs(3000, 0, 0)), { busy: true });
});

t.test('the accept queue is stuck while it stays non-empty without shrinking', async (t) => {
  const u = new AppUsage('i1');
  t.equal((await u.judge([tcp(0, 0, 0)], inputs(0, 0))).stuckMs, 0);
  t.equal((await u.judge([tcp(0, 0, 2)], inputs(1000, 0))).stuckMs, 0, 'first seen');
  t.equal((await u.judge([tcp(0, 0, 3), unix(0, 0, 0)], inputs(2000, 0))).stuckMs, 1000);
  t.equal((await u.judge([tcp(0, 0, 1)], inputs(3000, 0))).stuckMs, 0, 'it shrank: someone accepts');
  t.equal((await u.judge([tcp(0, 0, 1)], inputs(4000, 0))).stuckMs, 0);
  t.equal((await u.judge([tcp(0, 0, 1)], inputs(6000, 0))).stuckMs, 2000);
  t.equal((await u.judge([tcp(0, 0, 0)], inputs(7000, 0))).stuckMs, 0, 'empty');
});
