// The `capacity` section: both keys optional, each checked, absent means no limit.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const INLINE = join(fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url)), 'inline.yaml');

function load(capacity: unknown): ReturnType<typeof validateConfig> | string[] {
  const doc = { listen: { http: ':0' }, apps: {}, ...(capacity === undefined ? {} : { capacity }) };
  try {
    return validateConfig(doc, INLINE, { env: {}, uid: 0 });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

t.test('valid capacity sections', async (t) => {
  const capacity = (v: unknown): unknown => (Array.isArray(v) ? v : (v as { capacity?: unknown }).capacity);
  t.same(capacity(load({ maxRunning: 5, minAvailable: '512Mi' })), { maxRunning: 5, minAvailableBytes: 512 * 1024 * 1024 });
  t.same(capacity(load({ maxRunning: 1 })), { maxRunning: 1 });
  const none = load({});
  t.ok(!Array.isArray(none) && none.capacity !== undefined && Object.keys(none.capacity).length === 0, 'an empty section: no limit');
  const absent = load(undefined);
  t.ok(!Array.isArray(absent) && absent.capacity === undefined, 'no section: no limit');
});

t.test('config errors', async (t) => {
  t.same(load({ maxRunning: 0 }), ['capacity.maxRunning: expected an integer >= 1, got 0']);
  t.equal((load({ maxRunning: 2.5, minAvailable: 'lots' }) as string[]).length, 2, 'both keys checked');
  t.match(load({ minAvailable: 0 }), ['capacity.minAvailable: must be at least 1 byte (leave it out for no limit), got 0']);
  t.match(load({ minAvailable: '1Gi', maxRuning: 3 }), [/^capacity\.maxRuning: unknown key; expected one of: maxRunning, minAvailable/]);
  t.match(load(5), [/^capacity: expected a mapping/]);
});
