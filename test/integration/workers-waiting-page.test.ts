// workers: 2 — the waiting page as in one process (waiting-page.test.ts), with the browsers' navigations
// served by worker processes: their mirrors say how the start goes, and the primary wakes the app for them.
import t from 'tap';
import type { LogLine } from '../helpers/gateway.js';
import { appCounts, appLines, bootGate, NAVIGATE, output, reloadIntoBackoff, send, slowApp, type Answer } from '../helpers/navigation.js';
import { runWorkers, starts } from '../helpers/workers.js';

const SLOW = 'slow.localhost';
const BROKEN = 'broken.localhost';

/** The request lines of the answers given with a page (the waiting one, or the failed start's). */
const pageLines = (lines: readonly LogLine[], app: string): LogLine[] => lines.filter((l) => l.msg === 'request' && l.app === app && l.code === 'WG_ERR_WAITING');

t.test('through 2 workers: a navigation past `after` gets the waiting page, unsent; the reload after the boot is the one request the app sees', async (t) => {
  const gate = bootGate(t);
  const gw = await runWorkers(t, { slow: slowApp(SLOW, 0, { waitingPage: { after: '200ms' } }, gate.env) });
  // Several tabs at once, spread by the kernel over the workers: each mirror says stopped, each asks to wake.
  const tabs = await Promise.all(Array.from({ length: 6 }, () => send(gw, SLOW, '/page?x=1', NAVIGATE)));
  t.same(tabs.map((a) => a.status), tabs.map(() => 503), 'every tab gets the page');
  const first = tabs[0]!;
  t.equal(first.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(first.headers['cache-control'], 'no-store');
  t.equal(first.headers.refresh, '1', 'it reloads itself');
  t.equal(first.headers['retry-after'], '1');
  t.match(first.body, '<title>Starting slow</title>');
  await gw.waitFor(output('slow', 'booting'));
  t.equal(starts(gw.lines, 'slow'), 1, 'the navigations woke the app once (through the primary)');
  // Not a browser: held until the app answers, as any request (a worker sends it to the instance starting).
  const curl = send(gw, SLOW, '/curl', { accept: '*/*', 'user-agent': 'curl/8.5.0' });
  const again = await send(gw, SLOW, '/page?x=1', NAVIGATE);
  t.equal(again.status, 503, 'a reload during the boot: held a while, then the page again');
  t.match(again.body, 'Starting slow');
  const reloads: number[] = [];
  let page: Answer | undefined;
  gate.open();
  while (!page && reloads.length < 20) {
    const next = await send(gw, SLOW, '/page?x=1', NAVIGATE);
    reloads.push(next.status);
    if (next.status === 200) page = next;
    else t.match(next.body, 'Starting slow', 'until then, the page');
  }
  if (!page) return t.fail(`no app page after ${reloads.length} reloads`);
  t.match(page.body, 'served /page by');
  const held = await curl;
  t.equal(held.status, 200, 'the plain client was held and answered');
  t.match(held.body, 'served /curl by');
  t.equal(starts(gw.lines, 'slow'), 1, 'one start');
  t.same(await appCounts(gw, SLOW), { '/page': 1, '/curl': 1 }, `${reloads.length + 7} navigations, all but the last answered with the page: the app saw one`);
  t.equal(appLines(gw, 'slow', 'request GET /page').length, 1, 'the navigation reached the app exactly once');
  await gw.waitFor(output('slow', 'empty connection'));
  t.equal(appLines(gw, 'slow', 'empty connection').length, 1, 'woken by the empty connection the primary put in its queue');
  const pages = pageLines(gw.lines, 'slow');
  t.ok(pages.length >= 7, 'the pages were logged as requests');
  t.ok(pages.every((l) => typeof l.worker === 'number'), 'each one answered by a worker');
  t.comment(`pages per worker: ${JSON.stringify([0, 1].map((w) => pages.filter((l) => l.worker === w).length))}`);
});

t.test('through 2 workers: a failed start shows its page with Retry-After; a reload in the backoff says so at once', async (t) => {
  const gw = await runWorkers(t, { broken: slowApp(BROKEN, 200, { waitingPage: { after: '5s' } }, { MODE: 'exit-on-boot' }) });
  const first = await send(gw, BROKEN, '/', NAVIGATE);
  t.equal(first.status, 503);
  t.match(first.body, 'broken failed to start');
  t.match(first.body, 'app broken exited (code 1)', 'the failure the primary saw, carried by the mirror');
  t.equal(first.headers.refresh, undefined, 'no endless reload');
  t.equal(first.headers['cache-control'], 'no-store');
  t.equal(first.headers['retry-after'], '1', 'a first crash restarts at once');
  const found = await reloadIntoBackoff(t, () => send(gw, BROKEN, '/', NAVIGATE), () => starts(gw.lines, 'broken'));
  if (!found) return t.fail('no reload came during the backoff');
  const { looping, startsBefore: before } = found;
  t.match(looping.body, 'broken failed to start', 'during the backoff: says so at once');
  t.ok(Number(looping.headers['retry-after']) >= 1, 'Retry-After from the backoff the mirror counts down');
  t.equal(looping.headers.refresh, undefined);
  t.equal(starts(gw.lines, 'broken'), before, 'the reload in the backoff started nothing');
  t.same(appLines(gw, 'broken', 'request '), [], 'no navigation reached the app');
  t.ok(gw.lines.some((l) => l.code === 'WG_ERR_WAITING' && l.level === 40 && typeof l.worker === 'number'), 'a failed page is logged by its worker as a failed request');
});
