// What crosses the channel between primary and workers: errors come back as the same classes (so the
// one place that turns errors into statuses answers as in-process), and tallies add up.
import t from 'tap';
import { BackoffError, CapacityError, DependencyError, InstanceCrashedError, QueueFullError, StartFailedError, StartTimeoutError, UnavailableError } from '../../src/errors.js';
import { answerFor } from '../../src/front/error-response.js';
import { REQUEST_BUCKETS, RequestTally } from '../../src/metrics/request-tally.js';
import { fromWire, toWire } from '../../src/workers/protocol.js';
import { mergeInto, snapshot } from '../../src/workers/tally-merge.js';

t.test('every error the primary can answer a worker with keeps its status, code, message and Retry-After', async (t) => {
  const errors = [
    new QueueFullError('a', 7),
    new BackoffError('a', 4000),
    new StartTimeoutError('a', 10_000),
    new InstanceCrashedError('a', 'code 1'),
    new UnavailableError('a', 'removed'),
    new UnavailableError('a', 'shutdown'),
    new StartFailedError('a', { cause: new Error('spawn ENOENT') }),
    new CapacityError('a', '5 instances run (capacity.maxRunning is 5) and none can be evicted', 1000),
    new DependencyError('a', 'db', 'failed to start: its instance exited (crash, code 1)', 2000),
  ];
  for (const err of errors) {
    const back = fromWire(JSON.parse(JSON.stringify(toWire(err))), 'a');
    t.equal(back.constructor, err.constructor, `${err.code}: the same class`);
    t.same(answerFor(back), answerFor(err), `${err.code}: the same answer`);
    t.equal(back.message, err.message, `${err.code}: the same message`);
  }
  t.equal(answerFor(fromWire(toWire(new Error('boom')), 'a')).status, 502, 'anything else is an upstream failure, 502');
});

t.test('snapshots merged add up to one tally of every request', async (t) => {
  const whole = new RequestTally(REQUEST_BUCKETS);
  const parts = [new RequestTally(REQUEST_BUCKETS), new RequestTally(REQUEST_BUCKETS)];
  for (let i = 0; i < 200; i++) {
    const app = i % 3 === 0 ? 'b' : 'a';
    const status = i % 7 === 0 ? 502 : 200;
    const seconds = (i % 13) / 100;
    whole.add(app, status, seconds, true);
    parts[i % 2]!.add(app, status, seconds, true);
  }
  whole.add('', 404, 0, false);
  parts[1]!.add('', 404, 0, false);
  const merged = new RequestTally(REQUEST_BUCKETS);
  for (const p of parts) mergeInto(merged, JSON.parse(JSON.stringify(snapshot(p, { limit: 1 }))));
  t.same([...merged.apps.keys()].sort(), [...whole.apps.keys()].sort());
  for (const [app, w] of whole.apps) {
    const m = merged.apps.get(app)!;
    t.same(new Map([...m.codes].sort()), new Map([...w.codes].sort()), `${app}: codes`);
    t.same(m.buckets, w.buckets, `${app}: buckets`);
    t.equal(m.count, w.count, `${app}: count`);
    t.ok(Math.abs(m.sum - w.sum) < 1e-9, `${app}: sum`);
  }
  t.same(snapshot(parts[0]!, { limit: 2 }).refused, { limit: 2 }, 'refused counts travel with it');
});
