// The adoption rule, on hand-made passed sockets (the matching is a pure function of them and the config).
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { planAdoption } from '../../src/systemd/adoption-plan.js';
import { appHttpFdName, appListenFdName, parseFdName } from '../../src/systemd/fd-names.js';
import type { InheritedSocket } from '../../src/systemd/listen-fds.js';

function config(doc: Record<string, unknown>): GatewayConfig {
  return validateConfig({ runtimeDir: '/run/wg-plan-test', ...doc }, '/x.json');
}

let nextFd = 3;
function passed(name: string, family: 'inet' | 'inet6' | 'unix', address: string, port = 0): InheritedSocket {
  return { fd: nextFd++, name, bound: { family, address, port }, inode: 1000 + nextFd };
}

const app = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ command: ['/bin/true'], dir: '/', runtime: 'process', ...extra });

t.test('names: front, app.<name>, the own store names; anything else is unknown', async (t) => {
  t.same(parseFdName('http'), { kind: 'front', which: 'http' });
  t.same(parseFdName('admin'), { kind: 'front', which: 'admin' });
  t.same(parseFdName('app.db'), { kind: 'app', app: 'db' });
  t.same(parseFdName(appHttpFdName('web')), { kind: 'app-http', app: 'web' });
  t.match(parseFdName(appListenFdName('db', 'tcp:127.0.0.1:0')), { kind: 'app-listen', app: 'db' });
  for (const other of ['unknown', 'stored', 'app.', 'app.db.nothex', 'app.a.b.c']) t.same(parseFdName(other), { kind: 'unknown' }, other);
  t.notOk(appListenFdName('db', 'tcp:127.0.0.1:0').includes(':'), 'no ":" (LISTEN_FDNAMES separator)');
});

t.test('by name and by address; port 0 takes any port; IPv6 compared canonically', async (t) => {
  const c = config({
    listen: { http: '127.0.0.1:0' },
    admin: { listen: '[0:0::1]:9090', token: 'secret-token-for-test' },
    apps: { db: app({ listen: ['tcp:127.0.0.1:5432', 'tcp:127.0.0.1:5433'] }), kv: app({ listen: ['tcp:127.0.0.1:6379'] }) },
  });
  const http = passed('http', 'inet', '127.0.0.1', 8080);
  const admin = passed('unknown', 'inet6', '::1', 9090);
  const db = passed('app.db', 'inet', '127.0.0.1', 5433);
  const kv = passed('unknown', 'inet', '127.0.0.1', 6379);
  const own = passed(appListenFdName('db', 'tcp:127.0.0.1:5432'), 'inet', '127.0.0.1', 5432);
  const plan = planAdoption([http, admin, db, kv, own], c, new Map());
  t.equal(plan.http, http);
  t.equal(plan.admin, admin, 'matched by address alone');
  t.equal(plan.appListen.get('db tcp:127.0.0.1:5433'), db, 'app.<name> by its bound address among the app\'s');
  t.equal(plan.appListen.get('db tcp:127.0.0.1:5432'), own, 'the own store name by its hash');
  t.equal(plan.appListen.get('kv tcp:127.0.0.1:6379'), kv);
  t.same(plan.released, []);
});

t.test('mismatches refuse start-up; the gateway\'s own stale store entries are released instead', async (t) => {
  const c = config({ listen: { http: '127.0.0.1:8080' }, apps: { db: app({ listen: ['tcp:127.0.0.1:5432'] }), web: app({ hosts: ['web.localhost'] }) } });
  t.throws(() => planAdoption([passed('http', 'inet', '127.0.0.1', 8081)], c, new Map()), { code: 'WG_ERR_INHERITED_SOCKET_MISMATCH', expected: 'tcp:127.0.0.1:8080', address: 'tcp:127.0.0.1:8081' });
  t.throws(() => planAdoption([passed('admin', 'inet', '127.0.0.1', 9090)], c, new Map()), { code: 'WG_ERR_INHERITED_SOCKET_MISMATCH', expected: 'no admin.listen' });
  t.throws(() => planAdoption([passed('unknown', 'inet', '127.0.0.1', 1)], c, new Map()), { code: 'WG_ERR_INHERITED_SOCKET_MISMATCH', expected: undefined });
  t.throws(() => planAdoption([passed('app.db', 'inet', '127.0.0.1', 5433)], c, new Map()), { code: 'WG_ERR_INHERITED_SOCKET_MISMATCH', expected: 'tcp:127.0.0.1:5432' });
  t.throws(() => planAdoption([passed('app.gone', 'inet', '127.0.0.1', 5433)], c, new Map()), { code: 'WG_ERR_INHERITED_SOCKET_MISMATCH', expected: 'no listen sockets for app gone' });
  const goneApp = passed(appHttpFdName('gone'), 'unix', '/proc/self/fd/9/gone.sock');
  const noFile = passed(appHttpFdName('web'), 'unix', '/proc/self/fd/9/web.sock');
  const oldAddress = passed(appListenFdName('db', 'tcp:127.0.0.1:6000'), 'inet', '127.0.0.1', 6000);
  const plan = planAdoption([goneApp, noFile, oldAddress], c, new Map());
  t.same(plan.released, [goneApp, noFile, oldAddress], 'an app removed meanwhile, an app socket whose file is gone, an address no longer configured');
  t.equal(plan.appHttp.size, 0);
});
