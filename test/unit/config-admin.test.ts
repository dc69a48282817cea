import t from 'tap';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

function issuesOf(doc: Record<string, unknown>): string[] {
  try {
    validateConfig({ listen: { http: ':0' }, apps: {}, ...doc }, join(tmpdir(), 'c.yaml'), { env: {}, uid: 0 });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

t.test('the admin API is never on a non-loopback address without a token', async (t) => {
  t.same(issuesOf({ admin: { listen: '127.0.0.1:9090' } }), []);
  t.same(issuesOf({ admin: { listen: '[::1]:9090' } }), []);
  t.same(issuesOf({ admin: { listen: 'unix:/run/wakegate/admin.sock' } }), []);
  t.same(issuesOf({ admin: { listen: '0.0.0.0:9090' } }), ['admin.token: required when admin.listen is not a loopback address or a Unix socket (it is "0.0.0.0")']);
  t.same(issuesOf({ admin: { listen: ':9090' } }).length, 1, 'all interfaces');
  t.same(issuesOf({ admin: { listen: '0.0.0.0:9090', token: 'sixteen-chars-ok' } }), []);
});

t.test('wakeIgnore is validated', async (t) => {
  const app = (wakeIgnore: unknown): Record<string, unknown> => ({ apps: { a: { hosts: ['a.localhost'], command: ['x'], dir: tmpdir(), wakeIgnore } } });
  t.same(issuesOf(app({ paths: ['/healthz'], userAgents: ['kube-probe'], response: { status: 204, body: '', retryAfter: '5s' } })), []);
  t.same(issuesOf(app({ paths: ['healthz'] })), ['apps.a.wakeIgnore.paths[0]: expected a path starting with /, got "healthz"']);
  t.same(issuesOf(app({})), ['apps.a.wakeIgnore: needs at least one of paths or userAgents']);
  t.same(issuesOf(app({ paths: ['/x'], response: { status: 99 } })), ['apps.a.wakeIgnore.response.status: expected an integer from 200 to 599, got 99']);
  t.same(issuesOf({ defaults: { wakeIgnore: { userAgents: ['UptimeRobot'] } }, ...app(undefined) }), [], 'inherited from defaults');
});

t.test('a value in the wrong place is described by its shape, never echoed: it may hold a secret', async (t) => {
  const issues = issuesOf({ admin: [{ listen: ':9', token: 's3cr3t-s3cr3t-s3cr3t' }] });
  t.same(issues, ['admin: expected a mapping, got an array of 1 item']);
});
