/** The `waitingPage` setting, whose template file is read here, at load and reload, never per request. */
import { readFileSync, statSync } from 'node:fs';
import { type Issues, absolutePath, duration, field, mapping } from './checks.js';
import type { WaitingPageSpec } from './types.js';
import { DEFAULTS } from '../defaults.js';

const MAX_BYTES = DEFAULTS.internal.waitingTemplateMaxBytes;

/** `waitingPage: false`, or `{ after: 1s, file: ./waiting.html }`; `false` is kept as such, so that it overrides `defaults`. */
export function waitingPage(issues: Issues, v: unknown, path: string, baseDir: string): WaitingPageSpec | false | undefined {
  if (v === false) return false;
  if (v === true) return issues.add(path, 'expected false or { after, file }; the page is on unless set to false');
  const m = mapping(issues, v, path, ['after', 'file']);
  if (!m) return undefined;
  const before = issues.count;
  const afterMs = field(issues, m, 'after', path, duration) ?? DEFAULTS.app.waitingPage.afterMs;
  const file = field(issues, m, 'file', path, (is, f, p) => absolutePath(is, f, p, baseDir));
  const template = file === undefined ? undefined : readTemplate(issues, file, `${path}.file`);
  if (issues.count > before) return undefined;
  return file === undefined || template === undefined ? { afterMs } : { afterMs, file, template };
}

function readTemplate(issues: Issues, file: string, path: string): string | undefined {
  let bytes: Buffer;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return issues.add(path, `${file} is not a regular file`);
    if (stat.size > MAX_BYTES) return issues.add(path, `${file} has ${stat.size} bytes; a waiting page template may have at most ${MAX_BYTES}`);
    bytes = readFileSync(file);
  } catch (err) {
    return issues.add(path, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return issues.add(path, `${file} is not valid UTF-8`);
  }
  if (text.trim() === '') return issues.add(path, `${file} is empty`);
  return text;
}
