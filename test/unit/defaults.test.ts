// The README's configuration table states every default that DEFAULTS holds, with the same value, and
// states no default that DEFAULTS does not hold. A new setting needs a DEFAULTS entry and a table row,
// nothing here: keys map by rule. DEFAULTS.internal holds constants that are not settings and is not checked.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/defaults.js';
import { parseDuration, parseSize } from '../../src/config/units.js';
import { ROOT } from '../helpers/gateway.js';

type Scalar = string | number | boolean;

interface Default { readonly value: Scalar; readonly duration: boolean }

/**
 * DEFAULTS under the names the config uses: a `…Ms` key is a duration written without the suffix, a nested
 * object is a dotted key (`log.level`), `limits` keys keep their section (`limits.maxHeaders`), and `gateway`
 * and `app` keys have none (an app setting is written per app or in `defaults`); `listenSocket` keys are
 * those of an entry of an app's `listen` (`listen[].mode`).
 */
function configDefaults(): Map<string, Default> {
  const out = new Map<string, Default>();
  const walk = (prefix: string, object: object): void => {
    for (const [key, value] of Object.entries(object) as Array<[string, unknown]>) {
      if (typeof value === 'object' && value !== null) walk(`${prefix}${key}.`, value);
      else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        const duration = typeof value === 'number' && key.endsWith('Ms');
        out.set(prefix + (duration ? key.slice(0, -2) : key), { value, duration });
      } else throw new Error(`DEFAULTS ${prefix}${key}: ${String(value)} is not a scalar the README can state`);
    }
  };
  walk('', DEFAULTS.gateway);
  walk('', DEFAULTS.app);
  walk('limits.', DEFAULTS.limits);
  walk('listen[].', DEFAULTS.listenSocket);
  return out;
}

/** Defaults that are not config keys and are stated in prose instead, found by a pattern capturing the value. */
const ELSEWHERE: Readonly<Record<string, RegExp>> = {
  adminAddress: /`--admin ADDR` \([^)]*default `([^`]+)`\)/,
};

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The `| key | default | meaning |` table: each key named in a row's first cell, with its default cell. */
function tableRows(): Map<string, string> {
  const lines = README.split('\n');
  const start = lines.indexOf('| key | default | meaning |');
  if (start < 0) throw new Error('README has no "| key | default | meaning |" table');
  const rows = new Map<string, string>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [keys, def] = line.split(' | ').map((cell) => cell.replace(/^\| /, '').trim());
    for (const [, key] of keys!.matchAll(/`([^`]+)`/g)) rows.set(key!.replace(/^apps\.<name>\./, ''), def!);
  }
  return rows;
}

/** Bullets such as "- `limits.maxUrlLength` (`8Ki`): …", whose last backticked word in the parentheses is the default. */
function proseDefaults(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of README.matchAll(/^- `([\w.]+)` \(([^)]*)\):/gm)) {
    const value = /`([^`]+)`\s*$/.exec(m[2]!)?.[1];
    if (value !== undefined) out.set(m[1]!, `\`${value}\``);
  }
  return out;
}

/** A default cell states a value when it is one backticked value; "none", "required", `[]` and `{}` state absence. */
function statedValue(cell: string): string | undefined {
  const value = /^`([^`]+)`$/.exec(cell)?.[1];
  return value === undefined || value === '[]' || value === '{}' ? undefined : value;
}

/** The README's text means the same value: durations and sizes are parsed as the config parses them. */
function sameValue(text: string, d: Default): boolean {
  try {
    if (d.duration) return parseDuration(text) === d.value;
    if (typeof d.value === 'number') return parseSize(text) === d.value;
  } catch {
    return false;
  }
  return text === String(d.value);
}

const defaults = configDefaults();
const table = tableRows();

t.test('the mapping finds the settings it should', async (t) => {
  for (const key of ['shutdownTimeout', 'idleTimeout', 'runtime', 'log.level', 'limits.maxUrlLength', 'limits.headersTimeout', 'listen[].mode']) t.ok(defaults.has(key), key);
  t.equal(defaults.get('limits.headersTimeout')?.duration, true);
  t.ok(sameValue('8Ki', { value: 8192, duration: false }) && sameValue('1h', { value: 3_600_000, duration: true }));
  t.notOk(sameValue('8K', { value: 8000, duration: false }) || sameValue('60', { value: 60_000, duration: true }));
});

t.test('every default in DEFAULTS is in the README with the same value', async (t) => {
  for (const [key, d] of defaults) {
    const where = ELSEWHERE[key];
    const text = where ? where.exec(README)?.[1] : table.has(key) ? statedValue(table.get(key)!) : undefined;
    t.ok(text !== undefined && sameValue(text, d), `${key}: DEFAULTS says ${JSON.stringify(d.value)}${d.duration ? ' ms' : ''}, README says ${JSON.stringify(text ?? table.get(key) ?? 'nothing')}`);
  }
});

t.test('every default the README table states is in DEFAULTS', async (t) => {
  for (const [key, cell] of table) {
    if (statedValue(cell) !== undefined) t.ok(defaults.has(key), `README states a default for ${key} (${cell}); DEFAULTS has none`);
  }
});

t.test('defaults restated in the prose agree with DEFAULTS', async (t) => {
  const prose = proseDefaults();
  t.ok(prose.size >= 5, 'the Limits bullets are found');
  for (const [key, cell] of prose) {
    const d = defaults.get(key);
    t.ok(d !== undefined && sameValue(statedValue(cell)!, d), `${key}: README prose says ${cell}, DEFAULTS ${JSON.stringify(d?.value)}`);
  }
});
