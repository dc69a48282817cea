// The waiting page with a real gateway, real sockets and a real app that takes a while before it accepts
// (test/fixtures/apps/slow-boot.mjs): who gets it, what it is, and that a navigation never reaches the app twice.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { sleep, startGateway, type TestGateway } from '../helpers/gateway.js';
import { appLines, bootGate, CHROME_ACCEPT, NAVIGATE, output, reloadIntoBackoff, scratchDir, send, slowApp, type Answer } from '../helpers/navigation.js';

/** A navigation to `app` (host `<app>.localhost`) whose client gives up once the app boots; resolves with the client's error. */
async function abandonDuringBoot(gw: TestGateway, app: string, path: string): Promise<unknown> {
  const controller = new AbortController();
  const gone = request(`http://127.0.0.1:${gw.port}${path}`, { headers: { host: `${app}.localhost`, ...NAVIGATE }, signal: controller.signal }).catch((e: unknown) => e);
  await gw.waitFor(output(app, 'booting'));
  controller.abort();
  return gone;
}

t.test('a navigation past `after` gets the waiting page, unsent; its reload after the boot is the one request the app sees', async (t) => {
  const gate = bootGate(t);
  const gw = await startGateway(t, { slow: slowApp('slow.localhost', 0, { waitingPage: { after: '200ms' } }, gate.env) });
  const first = await send(gw, 'slow.localhost', '/page?x=1', NAVIGATE);
  t.equal(first.status, 503);
  t.equal(first.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(first.headers['cache-control'], 'no-store', 'nothing caches it');
  t.equal(first.headers.refresh, '1', 'it reloads itself');
  t.equal(first.headers['retry-after'], '1');
  t.match(first.body, '<title>Starting slow</title>');
  t.equal(gw.gateway.apps.get('slow')!.state, 'starting', 'the navigation woke the app');
  // A reload while it still boots is held a while, then gets the page again; it starts nothing more.
  const again = await send(gw, 'slow.localhost', '/page?x=1', NAVIGATE);
  t.equal(again.status, 503);
  t.match(again.body, 'Starting slow');
  // The boot ends while a reload is held: that reload (or, on a slow machine, a later one) gets the app's page.
  const reloads: number[] = [];
  let page: Answer | undefined;
  gate.open();
  while (!page && reloads.length < 20) {
    const next = await send(gw, 'slow.localhost', '/page?x=1', NAVIGATE);
    reloads.push(next.status);
    if (next.status === 200) page = next;
    else t.match(next.body, 'Starting slow', 'until then, the page');
  }
  if (!page) return t.fail(`no app page after ${reloads.length} reloads`);
  t.match(page.body, 'served /page by');
  t.equal(gw.gateway.apps.get('slow')!.state, 'running');
  t.match(appLines(gw, 'slow', 'listening'), [/^listening pid=/]);
  t.equal(gw.runtime.starts, 1, 'one start');
  const counts = JSON.parse((await send(gw, 'slow.localhost', '/__counts')).body) as { counts: Record<string, number> };
  t.same(counts.counts, { '/page': 1 }, `${reloads.length + 2} navigations, all but the last answered with the page: the app saw one`);
  t.same(appLines(gw, 'slow', 'request '), [`request GET /page #1 pid=${gw.runtime.instances[0]!.pid}`]);
  await gw.waitFor(output('slow', 'empty connection'));
  t.equal(appLines(gw, 'slow', 'empty connection').length, 1, 'the app accepted the wake-up connection, closed without a request');
  t.match(gw.lines.find((l) => l.app === 'slow' && l.result === 'ok'), { acceptMs: Number }, 'a cold start confirmed by the accept');
});

t.test('API clients, scripts, non-GET requests and wake-ignored requests never get the page', async (t) => {
  const gate = bootGate(t);
  const gw = await startGateway(t, {
    slow: slowApp('slow.localhost', 0, { waitingPage: { after: '100ms' }, wakeIgnore: { paths: ['/health'] } }, gate.env),
  });
  const ignored = await send(gw, 'slow.localhost', '/health', NAVIGATE);
  t.equal(ignored.status, 503);
  t.match(JSON.parse(ignored.body), { error: { code: 'WG_ERR_ASLEEP' } }, 'wake-ignored: answered as such, the app not woken');
  t.equal(gw.gateway.apps.get('slow')!.state, 'stopped');
  const held = [
    send(gw, 'slow.localhost', '/curl', { accept: '*/*', 'user-agent': 'curl/8.5.0' }),
    send(gw, 'slow.localhost', '/json', { accept: 'application/json' }),
    send(gw, 'slow.localhost', '/prefers-json', { accept: 'application/json, text/html;q=0.9' }),
    send(gw, 'slow.localhost', '/xhr', { ...NAVIGATE, 'x-requested-with': 'XMLHttpRequest' }),
    send(gw, 'slow.localhost', '/fetch', { 'sec-fetch-mode': 'cors', accept: CHROME_ACCEPT }),
    send(gw, 'slow.localhost', '/form', NAVIGATE, 'POST', 'a=1'),
    send(gw, 'slow.localhost', '/delete', NAVIGATE, 'DELETE'),
  ];
  // Past `after` of the boot (which lasts until the gate opens), a navigation gets the page.
  await Promise.all([gw.waitFor(output('slow', 'booting')), new Promise((r) => setTimeout(r, 200))]);
  // Both past `after`, so each is held as a reload is, side by side.
  const [old, head] = await Promise.all([send(gw, 'slow.localhost', '/old-browser', { accept: 'text/html' }), send(gw, 'slow.localhost', '/head', NAVIGATE, 'HEAD')]);
  t.equal(old.status, 503, 'no Sec-Fetch-Mode, an Accept preferring text/html: a navigation');
  t.match(old.body, 'Starting slow');
  t.equal(head.status, 503, 'HEAD is a navigation too');
  t.equal(head.body, '', 'without the body');
  t.equal(head.headers.refresh, '1');
  gate.open();
  const answers = await Promise.all(held);
  t.same(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200, 200], 'held until the app answered them, as today');
  for (const [i, path] of ['/curl', '/json', '/prefers-json', '/xhr', '/fetch', '/form', '/delete'].entries()) t.match(answers[i]!.body, `served ${path} by`);
  const counts = JSON.parse((await send(gw, 'slow.localhost', '/__counts')).body) as { counts: Record<string, number> };
  t.same(counts.counts, { '/curl': 1, '/json': 1, '/prefers-json': 1, '/xhr': 1, '/fetch': 1, '/form': 1, '/delete': 1 }, 'no page request reached the app');
  t.equal(gw.runtime.starts, 1);
});

t.test('a navigation answered before `after` is simply held; `waitingPage: false` holds every navigation', async (t) => {
  const gw = await startGateway(t, {
    quick: slowApp('quick.localhost', 100, { waitingPage: { after: '5s' } }),
    off: slowApp('off.localhost', 1500, { waitingPage: false }),
  });
  const quick = await send(gw, 'quick.localhost', '/', NAVIGATE);
  t.equal(quick.status, 200, 'the app accepted well within `after`: the navigation went to it');
  t.match(quick.body, 'served / by');
  const off = await send(gw, 'off.localhost', '/', NAVIGATE);
  t.equal(off.status, 200, 'held for the whole boot, past the default 1s');
  t.same(appLines(gw, 'off', 'empty connection'), [], 'not woken by a held navigation: its request was sent as any other');
});

t.test('a failed start shows a page saying so, with Retry-After from the backoff, and no reload', async (t) => {
  const gw = await startGateway(t, { broken: slowApp('broken.localhost', 200, { waitingPage: { after: '5s' } }, { MODE: 'exit-on-boot' }) });
  const first = await send(gw, 'broken.localhost', '/', NAVIGATE);
  t.equal(first.status, 503);
  t.match(first.body, 'broken failed to start');
  t.match(first.body, 'app broken exited (code 1)');
  t.equal(first.headers.refresh, undefined, 'no endless reload');
  t.equal(first.headers['cache-control'], 'no-store');
  t.equal(first.headers['retry-after'], '1', 'a first crash restarts at once: the next start is allowed now');
  // The instance died without accepting the empty connection it was woken with: that one is stale, and must
  // not wake the app again by itself (a broken app would restart for ever). Nothing to wait for but time.
  await sleep(500);
  t.equal(gw.runtime.starts, 1, 'no start without a new request');
  // The user reloads: each crash in a row makes the backoff longer; one reload comes during it.
  const found = await reloadIntoBackoff(t, () => send(gw, 'broken.localhost', '/', NAVIGATE), () => gw.runtime.starts);
  if (!found) return t.fail('no reload came during the backoff');
  const { looping, startsBefore: starts } = found;
  t.match(looping.body, 'broken failed to start', 'during the backoff: says so at once');
  t.ok(Number(looping.headers['retry-after']) >= 1, 'Retry-After from the backoff');
  t.equal(looping.headers.refresh, undefined);
  t.equal(gw.runtime.starts, starts, 'the reload in the backoff started nothing');
  t.ok(gw.lines.some((l) => l.code === 'WG_ERR_WAITING' && l.level === 40), 'a failed page is logged as a failed request');
});

t.test('a template gets {{app}} and {{elapsed}}', async (t) => {
  const template = join(scratchDir(t), 'waiting.html');
  writeFileSync(template, '<!doctype html><p id="w">{{app}} has been starting for {{elapsed}}</p>\n');
  const gate = bootGate(t);
  const gw = await startGateway(t, { tpl: slowApp('tpl.localhost', 0, { waitingPage: { after: '100ms', file: template } }, gate.env) });
  const page = await send(gw, 'tpl.localhost', '/', NAVIGATE);
  gate.open();
  t.equal(page.status, 503);
  t.match(page.body, /^<!doctype html><p id="w">tpl has been starting for \d+ s<\/p>\n$/);
  t.equal(page.headers.refresh, '1');
});

t.test('`after: 0`: the navigation that starts the app gets the page at once', async (t) => {
  const gate = bootGate(t);
  const gw = await startGateway(t, { now: slowApp('now.localhost', 0, { waitingPage: { after: '0s' } }, gate.env) });
  const answer = send(gw, 'now.localhost', '/', NAVIGATE);
  // Answered before the instance is even spawned; held (as a reload is), it would be sent once the app accepts.
  await gw.waitFor(output('now', 'booting'));
  gate.open();
  const page = await answer;
  t.equal(page.status, 503, 'the page, not the app: it was not held');
  t.match(page.body, 'Starting now');
});

t.test('a navigation whose client leaves while held is safe: the app accepts a closed connection, boots, and is not marked failed', async (t) => {
  const gate = bootGate(t);
  const gw = await startGateway(t, { slow: slowApp('slow.localhost', 0, { waitingPage: { after: '5s' } }, gate.env) });
  t.type(await abandonDuringBoot(gw, 'slow', '/left'), Error, 'the client gave up');
  gate.open();
  await gw.waitFor(output('slow', 'empty connection'));
  const after = await send(gw, 'slow.localhost', '/next', { accept: '*/*' });
  t.equal(after.status, 200);
  t.match(after.body, `served /next by ${gw.runtime.instances[0]!.pid}`, 'the same instance: no crash, no restart');
  t.same(appLines(gw, 'slow', 'request '), [`request GET /next #1 pid=${gw.runtime.instances[0]!.pid}`], 'the abandoned navigation never reached it');
  t.equal(gw.lines.filter((l) => l.app === 'slow' && (l.result === 'failed' || l.result === 'timeout')).length, 0, 'not marked failed');
  t.equal(gw.runtime.starts, 1);
});

t.test('why a navigation is not sent during the start: a request the client abandoned in the accept queue is still served', async (t) => {
  const gate = bootGate(t);
  const gw = await startGateway(t, { plain: slowApp('plain.localhost', 0, { waitingPage: false }, gate.env) });
  t.type(await abandonDuringBoot(gw, 'plain', '/abandoned'), Error, 'the client gave up while the request waited in the queue');
  gate.open();
  await gw.waitFor(output('plain', 'request GET /abandoned'));
  t.pass('the instance accepted the closed connection, read the request on it and served it: a reload would have been a second one');
});
