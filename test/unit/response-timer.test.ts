import t from 'tap';
import { ResponseTimer } from '../../src/front/response-timer.js';

// The sweep's timer is unref'd (the gateway's listeners keep it alive): this keeps the test process up meanwhile.
const alive = setInterval(() => undefined, 1000);
t.teardown(() => clearInterval(alive));

/** Resolves with the phase and the time of the timeout; `timer` is started by `drive`. */
function timed(timeoutMs: number, drive: (timer: ResponseTimer) => void, runningSince: () => number | undefined = () => 0): Promise<{ phase: string; at: number }> {
  return new Promise((resolve) => {
    const timer = new ResponseTimer({ timeoutMs, sendTimeoutMs: 0, runningSince }, (phase) => resolve({ phase, at: Date.now() }));
    drive(timer);
  });
}

t.test('a head that never comes times out, never before the timeout', async (t) => {
  const started = Date.now();
  const { phase, at } = await timed(60, (timer) => timer.start());
  t.equal(phase, 'head');
  t.ok(at - started >= 60, `fired after ${at - started} ms`);
});

t.test('body data pushes the deadline back; a stall after it times out counted from the last chunk', async (t) => {
  let last = 0;
  const { phase, at } = await timed(80, (timer) => {
    timer.start();
    timer.headReceived();
    let chunks = 0;
    const feed = setInterval(() => {
      timer.progress();
      last = Date.now();
      if (++chunks === 6) clearInterval(feed);
    }, 30);
  });
  t.equal(phase, 'body');
  t.ok(last > 0 && at - last >= 80, `fired ${at - last} ms after the last of 6 chunks 30 ms apart`);
});

t.test('a suspended timer never fires; resumed, it counts afresh', async (t) => {
  let resumedAt = 0;
  const { phase, at } = await timed(50, (timer) => {
    timer.start();
    timer.headReceived();
    timer.suspend();
    setTimeout(() => {
      resumedAt = Date.now();
      timer.resume();
    }, 150);
  });
  t.equal(phase, 'body');
  t.ok(resumedAt > 0 && at - resumedAt >= 50, `fired ${at - resumedAt} ms after resume`);
});

t.test('stopped timers never fire, and many at once each fire once', async (t) => {
  const fired: number[] = [];
  const stopped = new ResponseTimer({ timeoutMs: 20, sendTimeoutMs: 0, runningSince: () => 0 }, () => fired.push(-1));
  stopped.start();
  stopped.stop();
  const all = await Promise.all(Array.from({ length: 50 }, (_, i) => timed(20 + (i % 5) * 10, (timer) => timer.start()).then(() => fired.push(i))));
  t.equal(all.length, 50);
  t.same([...fired].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), 'each live timer once, the stopped one never');
});

t.test('while the app is starting the head timeout waits, then counts from the confirmation', async (t) => {
  let since: number | undefined;
  setTimeout(() => (since = Date.now()), 120);
  const { phase, at } = await timed(40, (timer) => timer.start(), () => since);
  t.equal(phase, 'head');
  t.ok(since !== undefined && at - since >= 40, `fired ${since === undefined ? 'before confirmation' : `${at - since} ms after it`}`);
});
