// freezeAfter (the freeze tier): a duration below idleTimeout, per app or in defaults; absent or 0: off.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

// Compiled to dist/test/unit, but the fixtures are not copied: point at the sources.
const INLINE = join(fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url)), 'inline.yaml');
const MINIMAL = { listen: { http: ':0' }, apps: { hello: { hosts: ['hello.localhost'], command: ['node'], dir: 'app' } } };

function issuesOf(doc: unknown): string[] {
  try {
    validateConfig(doc, INLINE, { env: {}, uid: 0 });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

function withApp(fields: Record<string, unknown>): unknown {
  return { ...MINIMAL, apps: { hello: { ...MINIMAL.apps.hello, ...fields } } };
}

t.test('freezeAfter: a duration shorter than idleTimeout, off by default', async (t) => {
  const spec = (fields: Record<string, unknown>) => validateConfig(withApp(fields), INLINE, { env: {}, uid: 0 }).apps.hello!;
  t.equal(spec({}).freezeAfterMs, undefined, 'absent: never frozen');
  t.equal(spec({ freezeAfter: '10s' }).freezeAfterMs, 10_000);
  t.equal(spec({ freezeAfter: '0s' }).freezeAfterMs, undefined, '0: off');
  t.equal(validateConfig({ ...MINIMAL, defaults: { freezeAfter: '5s' } }, INLINE, { env: {}, uid: 0 }).apps.hello!.freezeAfterMs, 5000, 'inherited from defaults');
  t.same(issuesOf(withApp({ freezeAfter: '60s' })), ['apps.hello.freezeAfter: must be shorter than idleTimeout (60000 ms)'], 'equal to the default idleTimeout');
  t.same(issuesOf(withApp({ freezeAfter: '2s', idleTimeout: '1s' })), ['apps.hello.freezeAfter: must be shorter than idleTimeout (1000 ms)']);
  t.same(issuesOf(withApp({ freezeAfter: 'soon' })), ['apps.hello.freezeAfter: expected a duration like 30s, got "soon"']);
});
