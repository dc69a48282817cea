import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url));
const INLINE = join(FIXTURES, 'inline.yaml');
const APP = { command: ['node'], dir: 'app' };

function load(apps: Record<string, unknown>, top: Record<string, unknown> = {}): GatewayConfig {
  return validateConfig({ listen: { http: '127.0.0.1:8080' }, ...top, apps }, INLINE, { env: {}, uid: 0 });
}

function issuesOf(apps: Record<string, unknown>, top: Record<string, unknown> = {}): string[] {
  try {
    load(apps, top);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

t.test('listen: addresses in the listen.http syntax, with an optional tcp: prefix and a name per socket', async (t) => {
  const cfg = load({
    db: { ...APP, listen: ['tcp:0.0.0.0:5432', '[::1]:8443', ':7000', { address: 'unix:run/db.sock', name: 'ctl' }, 'tcp:127.0.0.1:0'] },
  });
  const db = cfg.apps.db!;
  t.same(db.hosts, [], 'hosts may be left out when listen is given');
  t.same(db.listen, [
    { address: { kind: 'tcp', host: '0.0.0.0', port: 5432 }, name: 'db' },
    { address: { kind: 'tcp', host: '::1', port: 8443 }, name: 'db' },
    { address: { kind: 'tcp', host: '0.0.0.0', port: 7000 }, name: 'db' },
    { address: { kind: 'unix', path: join(FIXTURES, 'run/db.sock') }, name: 'ctl', mode: 0o600 },
    { address: { kind: 'tcp', host: '127.0.0.1', port: 0 }, name: 'db' },
  ]);
  t.equal(db.backlog, 4096, 'the built-in backlog');
  t.same(load({ web: { ...APP, hosts: ['web.localhost'] } }).apps.web!.listen, [], 'an HTTP-only app has none');
});

t.test('backlog: per app, or inherited from defaults', async (t) => {
  const cfg = load({ a: { ...APP, listen: [':7001'], backlog: 128 }, b: { ...APP, listen: [':7002'] } }, { defaults: { backlog: 1024 } });
  t.equal(cfg.apps.a!.backlog, 128);
  t.equal(cfg.apps.b!.backlog, 1024);
  t.same(issuesOf({ a: { ...APP, listen: [':7001'], backlog: 0 } }), ['apps.a.backlog: expected an integer from 1 to 65535, got 0']);
});

t.test('bad listen entries are config errors with their path', async (t) => {
  const cases: [unknown, string][] = [
    [[], 'apps.a.listen: expected a non-empty array of addresses, got []'],
    ['tcp:127.0.0.1:1', 'apps.a.listen: expected a non-empty array of addresses, got "tcp:127.0.0.1:1"'],
    [['localhost:7000'], 'apps.a.listen[0]: expected a numeric IPv4 or IPv6 address, got "localhost:7000"'],
    [['tcp:unix:/x.sock'], 'apps.a.listen[0]: expected "tcp:host:port" or "unix:/path", got "tcp:unix:/x.sock"'],
    [['127.0.0.1:70000'], 'apps.a.listen[0]: port must be from 0 to 65535, got "127.0.0.1:70000"'],
    [[{ name: 'x' }], 'apps.a.listen[0].address: required; expected an address like "tcp:127.0.0.1:7000" or "unix:/path"'],
    [[{ address: ':7000', name: 'a:b' }], `apps.a.listen[0].name: expected 1-255 letters, digits, '_', '.' or '-' (a LISTEN_FDNAMES entry), got "a:b"`],
    [[{ address: ':7000', name: 'x'.repeat(256) }], `apps.a.listen[0].name: expected 1-255 letters, digits, '_', '.' or '-' (a LISTEN_FDNAMES entry), got "${'x'.repeat(36)}...`],
    [[{ address: ':7000', port: 1 }], 'apps.a.listen[0].port: unknown key; expected one of: address, name, mode, group'],
    [[':7000', 'tcp:0.0.0.0:7000'], 'apps.a.listen[1]: address "tcp:0.0.0.0:7000" is listed twice'],
  ];
  for (const [listen, issue] of cases) t.same(issuesOf({ a: { ...APP, listen } }), [issue], issue);
  t.same(issuesOf({ a: APP }), ['apps.a.hosts: required; expected a non-empty array of host names (or `listen` sockets of its own)'], 'neither hosts nor listen');
  t.same(issuesOf({ a: { ...APP, listen: [':7000'] } }, { defaults: { listen: [':7001'] } }), ['defaults.listen: only allowed per app, not in defaults']);
});

t.test('mode and group of a unix: listen socket: an octal string and a group name or gid', async (t) => {
  const cfg = load({
    db: { ...APP, listen: ['unix:/srv/a.sock', { address: 'unix:/srv/b.sock', mode: '0660', group: 'daemon' }, { address: 'unix:/srv/c.sock', mode: '640', group: 4242 }, { address: 'unix:/srv/d.sock', mode: '0o666' }] },
  });
  t.same(
    cfg.apps.db!.listen.map((l) => [l.mode, l.group]),
    [[0o600, undefined], [0o660, 1], [0o640, 4242], [0o666, undefined]],
    'the default 0600; a group name resolved to its gid',
  );
  const cases: [unknown, string][] = [
    [{ address: 'unix:/srv/x.sock', mode: '1777' }, 'apps.a.listen[0].mode: expected a mode of at most 0777 (setuid, setgid and sticky bits mean nothing on a socket), got "1777"'],
    [{ address: 'unix:/srv/x.sock', mode: '4660' }, 'apps.a.listen[0].mode: expected a mode of at most 0777 (setuid, setgid and sticky bits mean nothing on a socket), got "4660"'],
    [{ address: 'unix:/srv/x.sock', mode: '0680' }, 'apps.a.listen[0].mode: expected an octal mode like "0660", got "0680"'],
    [{ address: 'unix:/srv/x.sock', mode: 660 }, 'apps.a.listen[0].mode: expected an octal string like "0660", quoted (an unquoted 0660 is the decimal number 660), got 660'],
    [{ address: 'unix:/srv/x.sock', mode: '0660', group: 'no-such-group-wg' }, 'apps.a.listen[0].group: no group named "no-such-group-wg" in /etc/group'],
    [{ address: 'unix:/srv/x.sock', group: 'daemon' }, `apps.a.listen[0].group: needs a mode that lets the group connect, such as mode: "0660" (the default 0600 lets only the gateway's uid in)`],
    [{ address: 'tcp:127.0.0.1:7000', mode: '0660' }, 'apps.a.listen[0].mode: only for a unix: socket; a TCP socket has no file whose permissions could be set'],
    [{ address: '127.0.0.1:7000', group: 0 }, 'apps.a.listen[0].group: only for a unix: socket; a TCP socket has no file whose permissions could be set'],
  ];
  for (const [entry, issue] of cases) t.same(issuesOf({ a: { ...APP, listen: [entry] } }), [issue], issue);
});

t.test('one address, one holder: two apps, or an app and the gateway, are a config error naming both', async (t) => {
  t.same(issuesOf({ one: { ...APP, listen: ['127.0.0.1:7000'] }, two: { ...APP, listen: ['unix:/srv/x.sock', 'tcp:127.0.0.1:7000'] } }), [
    'apps.two.listen[1]: address "tcp:127.0.0.1:7000" is already used by app "one"',
  ]);
  t.same(issuesOf({ one: { ...APP, listen: ['unix:/srv/x.sock'] }, two: { ...APP, listen: ['unix:/srv/x.sock'] } }), [
    'apps.two.listen[0]: address "unix:/srv/x.sock" is already used by app "one"',
  ]);
  t.same(issuesOf({ one: { ...APP, listen: ['127.0.0.1:8080'] } }), ['apps.one.listen[0]: address "tcp:127.0.0.1:8080" is already used by listen.http']);
  t.same(issuesOf({ one: { ...APP, listen: ['unix:/srv/admin.sock'] } }, { admin: { listen: 'unix:/srv/admin.sock' } }), [
    'apps.one.listen[0]: address "unix:/srv/admin.sock" is already used by admin.listen',
  ]);
  t.same(issuesOf({ one: { ...APP, listen: ['127.0.0.1:0'] }, two: { ...APP, listen: ['127.0.0.1:0'] } }), [], 'port 0 is a new port each time');
});
