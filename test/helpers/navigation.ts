// What the waiting-page tests share: a browser's navigation headers, the slow-booting app
// (test/fixtures/apps/slow-boot.mjs) and what it prints, for a gateway in-process or run as `wakegate run`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { request } from 'undici';
import { FIXTURE_APP, type LogLine } from './gateway.js';

export const CHROME_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
export const NAVIGATE = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: CHROME_ACCEPT };

export function slowApp(host: string, bootMs: number, extra: Record<string, unknown> = {}, env: Record<string, string> = {}): Record<string, unknown> {
  return { hosts: [host], command: [process.execPath, 'slow-boot.mjs'], dir: FIXTURE_APP, runtime: 'process', env: { BOOT_MS: String(bootMs), ...env }, ...extra };
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export async function send(gw: { readonly port: number }, host: string, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Answer> {
  const res = await request(`http://127.0.0.1:${gw.port}${path}`, { method: method as 'GET', headers: { host, ...headers }, ...(body === undefined ? {} : { body }) });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

export function scratchDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-waiting-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** BOOT_GATE for slowApp's env: the app boots until `open()`, so that what happens during the boot does not race it. */
export function bootGate(t: Test): { env: { BOOT_GATE: string }; open(): void } {
  const path = join(scratchDir(t), 'booted');
  return { env: { BOOT_GATE: path }, open: () => writeFileSync(path, '') };
}

export const output = (app: string, prefix: string) => (l: LogLine): boolean => l.app === app && l.stream === 'stdout' && l.msg.startsWith(prefix);

export const appLines = (gw: { readonly lines: readonly LogLine[] }, app: string, prefix: string): string[] => gw.lines.filter(output(app, prefix)).map((l) => l.msg);

/** The app's own count of the requests it served, per path. */
export async function appCounts(gw: { readonly port: number }, host: string): Promise<Record<string, number>> {
  return (JSON.parse((await send(gw, host, '/__counts')).body) as { counts: Record<string, number> }).counts;
}

/**
 * The user reloads a page whose app keeps failing to start: each crash in a row makes the backoff longer,
 * so within a few reloads one comes during it and gets the "crash-looping" page. Returns that answer (and
 * the start count just before it), or undefined when none came. Each other reload must have restarted it.
 */
export async function reloadIntoBackoff(t: Test, reload: () => Promise<Answer>, startCount: () => number): Promise<{ looping: Answer; startsBefore: number } | undefined> {
  for (let reloads = 0; reloads < 8; reloads += 1) {
    const startsBefore = startCount();
    const next = await reload();
    t.equal(next.status, 503);
    if (next.body.includes('crash-looping')) return { looping: next, startsBefore };
    t.match(next.body, 'app broken exited (code 1)', 'the reload started it again, and it failed again');
  }
  return undefined;
}
