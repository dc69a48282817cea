// The waiting page's config (`waitingPage`, its template read at load), who counts as a browser navigation,
// and the page's rendering. What a gateway answers with them is test/integration/waiting-page*.test.ts.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError, StartTimeoutError } from '../../src/errors.js';
import { isNavigation, prefersHtml } from '../../src/front/navigation.js';
import { escapeHtml, failedHtml, waitingHtml } from '../../src/front/waiting-page.js';
import { CLI } from '../helpers/cli.js';

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-waiting-'));
  mkdirSync(join(dir, 'app'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function validate(dir: string, doc: Record<string, unknown>): ReturnType<typeof validateConfig> | string[] {
  try {
    return validateConfig({ listen: { http: ':0' }, ...doc }, join(dir, 'wakegate.yaml'), { env: {}, uid: 0 });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

const app = (fields: Record<string, unknown> = {}): Record<string, unknown> => ({ hosts: ['a.localhost'], command: ['node'], dir: 'app', ...fields });

t.test('waitingPage: on by default after 1s, false turns it off, per app over defaults, the template read at load', async (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'page.html'), '<p>{{app}} for {{ elapsed }}</p>');
  const cfg = validate(dir, {
    defaults: { waitingPage: { after: '2s', file: 'page.html' } },
    apps: { a: app(), b: app({ hosts: ['b.localhost'], waitingPage: false }), c: app({ hosts: ['c.localhost'], waitingPage: { after: '500ms' } }) },
  });
  if (Array.isArray(cfg)) return t.fail(cfg.join('; '));
  t.same(cfg.apps.a!.waitingPage, { afterMs: 2000, file: join(dir, 'page.html'), template: '<p>{{app}} for {{ elapsed }}</p>' }, 'from defaults, the file relative to the config');
  t.notOk('waitingPage' in cfg.apps.b!, 'false: no waiting page');
  t.same(cfg.apps.c!.waitingPage, { afterMs: 500 }, 'an app setting replaces the defaults one whole');
  const plain = validate(dir, { apps: { a: app() } });
  if (Array.isArray(plain)) return t.fail(plain.join('; '));
  t.same(plain.apps.a!.waitingPage, { afterMs: 1000 }, 'built in: after 1s, the built-in page');
  const off = validate(dir, { defaults: { waitingPage: false }, apps: { a: app() } });
  t.notOk(!Array.isArray(off) && 'waitingPage' in off.apps.a!, 'false in defaults turns it off for every app');
});

t.test('a bad waitingPage or an unreadable template is a config error naming the path', async (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'empty.html'), '  \n');
  writeFileSync(join(dir, 'latin1.html'), Buffer.from([0x3c, 0x70, 0x3e, 0xe9, 0x3c]));
  writeFileSync(join(dir, 'big.html'), 'x'.repeat(64 * 1024 + 1));
  const bad = (value: unknown): string[] => {
    const out = validate(dir, { apps: { a: app({ waitingPage: value }) } });
    return Array.isArray(out) ? out : [];
  };
  t.match(bad(true), ['apps.a.waitingPage: expected false or { after, file }; the page is on unless set to false']);
  t.match(bad('1s'), [/^apps\.a\.waitingPage: expected a mapping/]);
  t.match(bad({ after: 'soon' }), [/^apps\.a\.waitingPage\.after: expected a duration/]);
  t.match(bad({ afterr: '1s' }), [/^apps\.a\.waitingPage\.afterr: unknown key; expected one of: after, file/]);
  t.same(bad({ file: 'missing.html' }), [`apps.a.waitingPage.file: cannot read ${join(dir, 'missing.html')}: ENOENT`]);
  t.same(bad({ file: 'app' }), [`apps.a.waitingPage.file: ${join(dir, 'app')} is not a regular file`]);
  t.same(bad({ file: 'empty.html' }), [`apps.a.waitingPage.file: ${join(dir, 'empty.html')} is empty`]);
  t.same(bad({ file: 'latin1.html' }), [`apps.a.waitingPage.file: ${join(dir, 'latin1.html')} is not valid UTF-8`]);
  t.match(bad({ file: 'big.html' }), [/waitingPage\.file: .*big\.html has 65537 bytes; a waiting page template may have at most 65536$/]);
  const inDefaults = validate(dir, { defaults: { waitingPage: { file: 'missing.html' } }, apps: { a: app() } });
  t.same(inDefaults, [`defaults.waitingPage.file: cannot read ${join(dir, 'missing.html')}: ENOENT`]);
});

t.test('wakegate check refuses an unreadable template, with its path', async (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'page.html'), '<p>{{app}}</p>');
  chmodSync(join(dir, 'page.html'), 0o000);
  const file = join(dir, 'wakegate.yaml');
  // As root the mode does not keep the file from being read: a missing file is then the unreadable one.
  const target = process.getuid?.() === 0 ? 'gone.html' : 'page.html';
  writeFileSync(file, `listen: { http: ":0" }\napps:\n  a: { hosts: [a.localhost], command: [node], dir: app, waitingPage: { file: ${target} } }\n`);
  const result = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, [CLI, 'check', '-c', file], (err, _out, stderr) => resolve({ code: err ? Number(err.code) : 0, stderr })),
  );
  t.not(result.code, 0, 'check fails');
  t.match(result.stderr, `apps.a.waitingPage.file: cannot read ${join(dir, target)}: ${target === 'gone.html' ? 'ENOENT' : 'EACCES'}`);
});

function req(method: string, headers: Record<string, string>): IncomingMessage {
  return { method, headers } as unknown as IncomingMessage;
}

t.test('a navigation: GET or HEAD, Sec-Fetch-Mode navigate or an Accept preferring text/html, no X-Requested-With', async (t) => {
  const chrome = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
  t.ok(isNavigation(req('GET', { 'sec-fetch-mode': 'navigate', accept: chrome })), 'a browser page load');
  t.ok(isNavigation(req('HEAD', { 'sec-fetch-mode': 'navigate' })), 'HEAD too');
  t.ok(isNavigation(req('GET', { 'sec-fetch-mode': 'navigate', accept: '*/*' })), 'navigate wins over the Accept');
  t.ok(isNavigation(req('GET', { accept: chrome })), 'no Sec-Fetch-Mode (an older browser): the Accept decides');
  t.notOk(isNavigation(req('POST', { 'sec-fetch-mode': 'navigate', accept: chrome })), 'a form POST is never held back');
  t.notOk(isNavigation(req('GET', { 'sec-fetch-mode': 'navigate', 'x-requested-with': 'XMLHttpRequest' })), 'X-Requested-With: a script');
  t.notOk(isNavigation(req('GET', { 'sec-fetch-mode': 'cors', accept: chrome })), 'fetch() from a page');
  t.notOk(isNavigation(req('GET', { 'sec-fetch-mode': 'no-cors', accept: 'text/html' })), 'an image or script load');
  t.notOk(isNavigation(req('GET', { accept: '*/*' })), 'curl');
  t.notOk(isNavigation(req('GET', {})), 'no Accept at all');
  t.notOk(isNavigation(req('GET', { accept: 'application/json' })), 'an API client');
});

t.test('Accept prefers text/html only when it names it with the best quality', async (t) => {
  t.ok(prefersHtml('text/html'));
  t.ok(prefersHtml('TEXT/HTML; charset=utf-8'));
  t.ok(prefersHtml('application/json;q=0.5, text/html'));
  t.ok(prefersHtml('text/html;q=0.9, application/json;q=0.9'), 'a tie is no reason to refuse a page');
  t.notOk(prefersHtml('application/json, text/html;q=0.9'));
  t.notOk(prefersHtml('text/html;q=0'), 'q=0 is "not acceptable"');
  t.notOk(prefersHtml('text/*'), 'a wildcard is no preference');
  t.notOk(prefersHtml('text/html;q=2'), 'a malformed quality counts as 0');
  t.notOk(prefersHtml(''));
});

t.test('the page: the template with {{app}} and {{elapsed}} substituted HTML-escaped; the built-in page; the failed-start page', async (t) => {
  const hostile = '<script>alert("x")</script>&\'';
  const page = waitingHtml({ afterMs: 1000, file: '/x', template: '<h1>{{app}}</h1><p title="{{app}}">{{ elapsed }} {{other}}</p>' }, hostile, 2500, 1);
  t.equal(page, '<h1>&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;</h1><p title="&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;">2 s {{other}}</p>');
  const builtIn = waitingHtml({ afterMs: 1000 }, 'shop', 3200, 1);
  t.match(builtIn, '<meta http-equiv="refresh" content="1">');
  t.match(builtIn, '<title>Starting shop</title>');
  t.match(builtIn, '(3 s so far)');
  t.notMatch(builtIn, '{{');
  const failed = failedHtml('shop', new StartTimeoutError('shop', 10_000), 4);
  t.match(failed, 'shop failed to start');
  t.match(failed, 'app shop did not start within 10000 ms');
  t.match(failed, 'tried again in 4 s');
  t.notMatch(failed, 'refresh', 'no reload: a failed start is not waited for');
  t.equal(escapeHtml(`a<b>&"'`), 'a&#60;b&#62;&#38;&#34;&#39;');
});
