// freezeAfter (the freeze tier): a duration below idleTimeout, per app or in defaults; absent or 0: off.
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { INLINE, issuesOf, MINIMAL, withApp } from '../helpers/config-doc.js';

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
