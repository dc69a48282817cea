import t from 'tap';
import { request } from 'undici';
import { DEFAULTS } from '../../src/defaults.js';
import { FIXTURE_APP, fixtureApp, startGateway, until, type TestGateway } from '../helpers/gateway.js';

const LINES = 100_000;

async function scrape(gw: TestGateway): Promise<string> {
  const address = gw.gateway.adminAddress;
  if (address?.kind !== 'tcp') throw new Error('expected a TCP admin address');
  return (await request(`http://127.0.0.1:${address.port}/metrics`)).body.text();
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('an app that prints 100k lines at once: the log gets a bounded share, the rest is counted', async (t) => {
  // seq writes every line before the shell becomes the app (exec keeps the pid that LISTEN_PID names),
  // whose own stdout is silenced so that the count is exact.
  const spew = fixtureApp(['spew.localhost'], { command: ['sh', '-c', `seq 1 ${LINES}; exec "$0" app.mjs >/dev/null`, process.execPath], dir: FIXTURE_APP });
  const gw = await startGateway(t, { spew }, { admin: { listen: '127.0.0.1:0' } });
  const started = performance.now();
  t.equal((await gw.get('spew.localhost')).status, 200, 'the app serves once it has printed');
  await gw.gateway.apps.get('spew')!.stopInstance('stop');
  const output = (): number => gw.lines.filter((l) => l.app === 'spew' && l.stream === 'stdout').length;
  const summed = (): number => gw.lines.filter((l) => l.app === 'spew' && typeof l.dropped === 'number').reduce((sum, l) => sum + (l.dropped as number), 0);
  // The last summary is logged when the instance's output closes, which may follow its exit.
  await until(() => output() + summed() === LINES, 10_000, 'every line either logged or counted as dropped');
  const seconds = (performance.now() - started) / 1000;
  const bound = DEFAULTS.internal.outputBurstLines + DEFAULTS.internal.outputLinesPerSec * (seconds + 1);
  t.ok(output() <= bound, `${output()} lines logged in ${seconds.toFixed(1)} s, at most ${Math.round(bound)}`);
  t.ok(output() >= DEFAULTS.internal.outputBurstLines, 'the burst gets through');
  const summaries = gw.lines.filter((l) => l.app === 'spew' && typeof l.dropped === 'number');
  t.ok(summaries.length >= 1 && summaries.length <= seconds + 2, `${summaries.length} summary lines, at most one a second`);
  t.match(summaries[0], { level: 40, msg: /^dropped \d+ lines of output/ });
  t.equal(sample(await scrape(gw), 'wakegate_output_lines_dropped_total{app="spew"}'), summed(), 'the metric counts the same lines');
});

t.test('gateway-answered errors: no stack, a request line with log.requests, wake-ignored ones counted', async (t) => {
  const gw = await startGateway(
    t,
    {
      dead: fixtureApp(['dead.localhost'], { env: { MODE: 'exit' } }),
      quiet: fixtureApp(['quiet.localhost'], { wakeIgnore: { paths: ['/healthz'] } }),
    },
    { log: { requests: true } },
  );
  t.equal((await gw.get('dead.localhost')).status, 502, 'a crash');
  t.equal((await gw.get('dead.localhost')).status, 502, 'a crash again');
  t.equal((await gw.get('dead.localhost')).status, 503, 'then the backoff answers');
  const warns = gw.lines.filter((l) => l.msg === 'failed to serve request');
  t.same(warns.map((l) => l.status), [502, 502, 503], 'each answer is logged as a failure');
  for (const line of warns) {
    t.notOk('err' in line || JSON.stringify(line).includes('"stack"'), `${String(line.code)}: no stack`);
    t.match(line.error, /./, 'its message instead');
  }
  const requests = gw.lines.filter((l) => l.msg === 'request' && l.app === 'dead');
  t.same(requests.map((l) => [l.status, l.code]), [[502, 'WG_ERR_INSTANCE_CRASHED'], [502, 'WG_ERR_INSTANCE_CRASHED'], [503, 'WG_ERR_BACKOFF']], 'and each gets its request line');

  const quiet = gw.gateway.apps.get('quiet')!;
  t.equal((await gw.get('quiet.localhost', '/healthz')).status, 503, 'a wake-ignored request is answered by the gateway');
  t.equal(quiet.state, 'stopped', 'without waking the app');
  t.equal(quiet.record.requests, 1, "and counted in the app's requests");
  t.match(gw.lines.find((l) => l.msg === 'request' && l.app === 'quiet'), { status: 503, code: 'WG_ERR_ASLEEP' });
  t.equal((await gw.get('quiet.localhost', '/')).status, 200);
  t.equal(quiet.record.requests, 2, 'a proxied one is counted once, as before');
});
