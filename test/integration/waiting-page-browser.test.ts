// The waiting page in a real browser: headless Chromium (Debian's, driven by playwright-core, no browser
// download) loads an app that takes 3 s before it accepts. It shows the waiting page, then the app's page
// with no manual reload; a plain HTTP client asking during the boot is held and gets the app's answer.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { chromium } from 'playwright-core';
import { request } from 'undici';
import { FIXTURE_APP, ROOT, startGateway, type LogLine } from '../helpers/gateway.js';
import { findTool, needTool } from '../helpers/tools.js';

/** Where the screenshots go: printed by the test, and gitignored. */
const OUTPUT = join(ROOT, 'test-output/waiting-page');
const BOOT_MS = 3000;

t.test('Chromium shows the waiting page, then the app page by itself; curl meanwhile is held and answered', async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const gw = await startGateway(t, {
    slow: { hosts: ['slow.localhost'], command: [process.execPath, 'slow-boot.mjs'], dir: FIXTURE_APP, runtime: 'process', env: { BOOT_MS: String(BOOT_MS) } },
  });
  const profile = mkdtempSync(join(tmpdir(), 'wg-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: findTool('chromium')!,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  mkdirSync(OUTPUT, { recursive: true });
  const page = context.pages()[0] ?? (await context.newPage());
  const statuses: number[] = [];
  page.on('response', (res) => res.request().isNavigationRequest() && statuses.push(res.status()));

  const url = `http://slow.localhost:${gw.port}/`;
  const started = performance.now();
  const first = await page.goto(url, { waitUntil: 'domcontentloaded' });
  const toWaitingPage = performance.now() - started;
  t.equal(first?.status(), 503, 'the first navigation gets the waiting page');
  t.equal(await first?.headerValue('refresh'), '1');
  // Read from the response, not the page: the page may already be reloading itself.
  const html = (await first?.text()) ?? '';
  t.match(html, '<title>Starting slow</title>');
  t.match(html, /The application is waking up \(\d+ s so far\)/);
  const waitingShot = join(OUTPUT, 'waiting.png');
  await page.screenshot({ path: waitingShot });

  // A curl-like client during the boot: held, then answered by the app.
  const curl = request(`http://127.0.0.1:${gw.port}/curl`, { headers: { host: 'slow.localhost', accept: '*/*', 'user-agent': 'curl/8.5.0' } }).then(async (res) => ({
    status: res.statusCode,
    body: await res.body.text(),
  }));

  // No reload from here on: the page's Refresh brings the app's page.
  await page.waitForSelector('#app', { timeout: 30_000 });
  const toAppPage = performance.now() - started;
  const appShot = join(OUTPUT, 'app.png');
  await page.screenshot({ path: appShot });
  t.equal(await page.title(), 'the app');
  t.match(await page.textContent('#app'), `served / by ${gw.runtime.instances[0]!.pid}`);
  t.equal(statuses.at(-1), 200, 'the last navigation is the app answering');
  t.ok(statuses.slice(0, -1).every((s) => s === 503), `only waiting pages before it (${statuses.join(', ')})`);

  const held = await curl;
  t.equal(held.status, 200, 'curl was held through the boot');
  t.match(held.body, 'served /curl by');
  t.equal(gw.runtime.starts, 1, 'one start');
  const counts = JSON.parse(await (await request(`http://127.0.0.1:${gw.port}/__counts`, { headers: { host: 'slow.localhost' } })).body.text()) as { counts: Record<string, number> };
  t.equal(counts.counts['/'], 1, `the app saw the page once, after ${statuses.length - 1} waiting pages`);
  const booting = gw.lines.find((l: LogLine) => l.app === 'slow' && l.stream === 'stdout' && l.msg.startsWith('booting'));
  t.ok(booting, 'the app booted for 3 s before it listened');

  t.comment(`screenshots: ${waitingShot} and ${appShot}`);
  t.comment(`navigation to an app that takes ${BOOT_MS} ms to accept: waiting page after ${Math.round(toWaitingPage)} ms, app page after ${Math.round(toAppPage)} ms (${statuses.length} navigations: ${statuses.join(', ')})`);
});
