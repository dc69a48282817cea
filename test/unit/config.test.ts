import { join, relative } from 'node:path';
import t from 'tap';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/schema.js';
import { parseDuration, parseSize, UnitError } from '../../src/config/units.js';
import { ConfigError } from '../../src/errors.js';
import { CONFIG_FIXTURES, INLINE, issuesOf, MINIMAL, withApp } from '../helpers/config-doc.js';

const FIXTURES = CONFIG_FIXTURES;
const APP_DIR = join(FIXTURES, 'app');

t.test('a full config loads with per-app overrides of defaults, and is deeply frozen', async (t) => {
  const cfg = await loadConfig(relative(process.cwd(), join(FIXTURES, 'full.yaml')), { env: {} });
  t.equal(cfg.file, join(FIXTURES, 'full.yaml'));
  t.same(cfg.listen, { http: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  t.same(cfg.admin, { listen: { kind: 'unix', path: join(FIXTURES, 'admin.sock') }, token: '0123456789abcdef' });
  t.equal(cfg.runtimeDir, join(FIXTURES, 'run'));
  t.same(cfg.trustedProxies, ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
  t.equal(cfg.shutdownTimeoutMs, 2000);
  t.equal(cfg.sampleIntervalMs, 500);
  t.same(cfg.log, { level: 'debug', requests: true });
  t.same(Object.keys(cfg.apps), ['hello', 'bare']);
  t.same({ ...cfg.apps.hello, env: { ...cfg.apps.hello?.env } }, {
    name: 'hello',
    hosts: ['hello.localhost', '*.hello.example'],
    command: ['node', 'server.js'],
    dir: APP_DIR,
    env: { GREETING: 'hi', PORT: '3000', DEBUG: 'true' },
    runtime: 'oci',
    idleTimeoutMs: 90_000,
    startTimeoutMs: 500,
    stopTimeoutMs: 1500,
    queueLimit: 10,
    concurrency: 1000,
    maxConnectionAgeMs: 7_200_000,
    listen: [],
    backlog: 4096,
    uid: 0,
    gid: 100,
    memoryBytes: 128 * 1024 ** 2,
    pids: 64,
    cpuWeight: 100,
    waitingPage: { afterMs: 1000 },
    busyCpu: 0.05,
  });
  // bare sets nothing, so it takes every default; root's primary group fills in gid.
  t.match(cfg.apps.bare, { dir: APP_DIR, runtime: 'process', busyCpu: 0.02, idleTimeoutMs: 30_000, memoryBytes: 256 * 1024 ** 2, uid: 0, gid: 0 });
  t.notOk(cfg.apps.bare && 'pids' in cfg.apps.bare, 'unset limits are absent, not undefined');

  const hello = cfg.apps.hello!;
  for (const o of [cfg, cfg.listen, cfg.listen.http, cfg.admin, cfg.trustedProxies, cfg.log, cfg.apps, hello, hello.hosts, hello.env]) {
    t.ok(Object.isFrozen(o));
  }
  t.throws(() => ((hello as { pids: number }).pids = 1), TypeError);
  t.throws(() => (hello.hosts as string[]).push('x.example'), TypeError);
  t.throws(() => ((cfg.apps as Record<string, unknown>).evil = hello), TypeError);
});

t.test('built-in defaults', async (t) => {
  const cfg = validateConfig(MINIMAL, INLINE, { env: {}, uid: 0 });
  t.same(cfg.listen.http, { kind: 'tcp', host: '0.0.0.0', port: 0 });
  t.equal(cfg.admin, undefined);
  t.equal(cfg.runtimeDir, '/run/wakegate');
  t.same(cfg.trustedProxies, []);
  t.equal(cfg.shutdownTimeoutMs, 10_000);
  t.equal(cfg.sampleIntervalMs, 1000);
  t.same(cfg.log, { level: 'info', requests: false });
  t.same({ ...cfg.apps.hello, env: { ...cfg.apps.hello?.env } }, {
    ...{ name: 'hello', hosts: ['hello.localhost'], command: ['node'], dir: APP_DIR, env: {}, runtime: 'auto' },
    ...{ idleTimeoutMs: 60_000, startTimeoutMs: 10_000, stopTimeoutMs: 5000, queueLimit: 1000, concurrency: 1000, maxConnectionAgeMs: 3_600_000 },
    ...{ listen: [], backlog: 4096, busyCpu: 0.02, waitingPage: { afterMs: 1000 } },
  });
  const dirFor = (uid: number, env: NodeJS.ProcessEnv) => validateConfig(MINIMAL, INLINE, { env, uid }).runtimeDir;
  t.equal(dirFor(1000, { XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/wakegate');
  t.equal(dirFor(1000, {}), '/tmp/wakegate-1000');
  t.equal(dirFor(1000, { XDG_RUNTIME_DIR: 'relative' }), '/tmp/wakegate-1000', 'a relative XDG_RUNTIME_DIR is ignored');
  t.same(validateConfig({ ...MINIMAL, apps: {} }, INLINE, { env: {} }).apps, {}, 'no apps is valid');
});

t.test('concurrency per app or in defaults; limits.sendTimeout; both validated', async (t) => {
  const apps = { hello: { ...MINIMAL.apps.hello, concurrency: 2 }, other: { ...MINIMAL.apps.hello, hosts: ['other.localhost'] } };
  const cfg = validateConfig({ ...MINIMAL, defaults: { concurrency: 50 }, limits: { sendTimeout: '45s' }, apps }, INLINE, { env: {} });
  t.equal(cfg.apps.hello?.concurrency, 2, 'per app');
  t.equal(cfg.apps.other?.concurrency, 50, 'from defaults');
  t.equal(cfg.limits.sendTimeoutMs, 45_000);
  const builtin = validateConfig(MINIMAL, INLINE, { env: {} });
  t.equal(builtin.limits.sendTimeoutMs, 30_000, 'sendTimeout defaults to 30 s');
  t.equal(validateConfig({ ...MINIMAL, limits: { sendTimeout: 0 } }, INLINE, { env: {} }).limits.sendTimeoutMs, 0, '0 turns it off');
  t.same(issuesOf(withApp({ concurrency: 0 })), ['apps.hello.concurrency: expected an integer >= 1, got 0']);
  t.same(issuesOf(withApp({ busyCpu: 2 })), ['apps.hello.busyCpu: expected a CPU share like 2%, got 2']);
  t.same(issuesOf(withApp({ busyCpu: '-1%' })), ['apps.hello.busyCpu: expected a CPU share like 2%, got "-1%"']);
  t.same(issuesOf({ ...MINIMAL, sampleInterval: '10ms' }), ['sampleInterval: must be at least 100ms, got "10ms"']);
  t.same(issuesOf({ ...MINIMAL, defaults: { busyCpu: '0.5%' }, sampleInterval: '2s' }), []);
  t.same(issuesOf({ ...MINIMAL, limits: { sendTimeout: 'soon' } }).length, 1);
  t.match(issuesOf({ ...MINIMAL, limits: { sendTimeout: 'soon' } })[0], /^limits\.sendTimeout: /);
});

t.test('JSON is accepted', async (t) => {
  const cfg = await loadConfig(join(FIXTURES, 'full.json'), { env: {} });
  t.same(cfg.listen.http, { kind: 'tcp', host: '::1', port: 8080 });
  t.equal(cfg.apps.hello?.memoryBytes, 134_217_728);
});

t.test('WAKEGATE_LOG_LEVEL overrides log.level', async (t) => {
  const doc = { ...MINIMAL, log: { level: 'warn' } };
  t.equal(validateConfig(doc, INLINE, { env: { WAKEGATE_LOG_LEVEL: 'trace' } }).log.level, 'trace');
  t.equal(validateConfig(doc, INLINE, { env: { WAKEGATE_LOG_LEVEL: '' } }).log.level, 'warn');
  t.same(issuesOf(doc, { WAKEGATE_LOG_LEVEL: 'loud' }), [
    'env.WAKEGATE_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
  ]);
});

t.test('every problem is reported with its path', async (t) => {
  const doc = {
    listen: { http: '127.0.0.1:70000' },
    admin: { token: 'secret' },
    trustedProxies: ['10.0.0.0/33', 'nope'],
    shutdownTimeout: 30,
    log: { level: 'loud', requests: 'yes' },
    defaults: { hosts: ['x.example'], memory: '1Mi' },
    bogus: true,
    apps: {
      hello: {
        hosts: ['x.example:80', 5, 'bad_host.example'],
        command: ['node', ''],
        dir: 'missing',
        env: { OK: 1, LISTEN_FDS: 1, 'bad-name': 'x', NESTED: { a: 1 } },
        memory: 'lots',
        pids: 0,
        cpuWeight: 10_001,
        queueLimit: 1.5,
        runtime: 'docker',
        user: 'no-such-user-wg',
        memroy: '1Gi',
      },
      'Bad.Name': [],
      empty: {},
    },
  };
  t.same(issuesOf(doc), [
    'bogus: unknown key; expected one of: listen, admin, runtimeDir, socketGroup, trustedProxies, shutdownTimeout, sampleInterval, workers, capacity, log, limits, oci, nspawn, defaults, apps',
    'listen.http: port must be from 0 to 65535, got "127.0.0.1:70000"',
    'admin.listen: required; expected an address like "127.0.0.1:9090"',
    'admin.token: must be at least 16 characters long, got 6',
    'trustedProxies[0]: CIDR prefix must be from 0 to 32, got "10.0.0.0/33"',
    'trustedProxies[1]: expected an IP address or CIDR like "10.0.0.0/8", got "nope"',
    'shutdownTimeout: expected a duration like 30s, got 30',
    'log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    'log.requests: expected true or false, got "yes"',
    'defaults.hosts: only allowed per app, not in defaults',
    'defaults.memory: must be at least 4Mi, got "1Mi"',
    'apps.hello.memroy: unknown key; expected one of: hosts, listen, command, dir, env, bundle, dependsOn, runtime, idleTimeout, startTimeout, stopTimeout, queueLimit, concurrency, maxConnectionAge, responseTimeout, memory, pids, cpuWeight, user, group, wakeIgnore, backlog, busyCpu, waitingPage, freezeAfter',
    'apps.hello.hosts[0]: host names must not include a port, got "x.example:80"',
    'apps.hello.hosts[1]: expected a host name like "app.example" or "*.app.example", got 5',
    'apps.hello.hosts[2]: expected a host name like "app.example" or "*.app.example", got "bad_host.example"',
    'apps.hello.command[1]: expected a non-empty string, got ""',
    `apps.hello.dir: directory ${join(FIXTURES, 'missing')} does not exist`,
    'apps.hello.env.LISTEN_FDS: LISTEN_* variables are reserved for socket activation',
    'apps.hello.env.bad-name: environment variable names must match [A-Za-z_][A-Za-z0-9_]*',
    'apps.hello.env.NESTED: expected a string, number or boolean, got a mapping',
    'apps.hello.runtime: expected one of process, oci, systemd, nspawn, auto, got "docker"',
    'apps.hello.queueLimit: expected an integer >= 1, got 1.5',
    'apps.hello.memory: expected a size like 128Mi, got "lots"',
    'apps.hello.pids: expected an integer >= 1, got 0',
    'apps.hello.cpuWeight: expected an integer from 1 to 10000, got 10001',
    'apps.hello.user: no user named "no-such-user-wg" in /etc/passwd',
    `apps["Bad.Name"]: app names must be 1-63 lower-case letters, digits, '_' or '-', starting with a letter or digit`,
    'apps["Bad.Name"]: expected a mapping, got []',
    'apps.empty.hosts: required; expected a non-empty array of host names (or `listen` sockets of its own)',
    'apps.empty.command: required; expected a non-empty array of strings',
    'apps.empty.dir: required; expected a directory path',
  ]);
});

t.test('single-value errors', async (t) => {
  const LONG_SOCKET = join(FIXTURES, 'x'.repeat(120));
  const cases: [unknown, string][] = [
    [null, ': expected a mapping at the top level, got null'],
    [['a'], ': expected a mapping at the top level, got an array of 1 item'],
    [{ apps: {} }, 'listen: required; expected a mapping like { http: "127.0.0.1:8080" }'],
    [{ listen: { http: ':0' } }, 'apps: required; expected a mapping of app names to apps (may be {})'],
    [{ ...MINIMAL, listen: { http: '::1:80' } }, 'listen.http: expected an address like "127.0.0.1:8080", "[::1]:8080", ":8080" or "unix:/path", got "::1:80" (IPv6 addresses need brackets, like "[::1]:8080")'],
    [{ ...MINIMAL, listen: { http: `unix:${'x'.repeat(120)}` } }, `listen.http: unix socket path ${JSON.stringify(LONG_SOCKET).slice(0, 37)}... is too long (${LONG_SOCKET.length} bytes, at most 107)`],
    [{ ...MINIMAL, admin: { listen: ':1', token: 12345 } }, 'admin.token: expected a string of at least 16 characters, got a number'],
    [withApp({ hosts: [] }), 'apps.hello.hosts: expected a non-empty array of host names, got []'],
    [withApp({ dir: 'app/server.js' }), `apps.hello.dir: ${join(APP_DIR, 'server.js')} is not a directory`],
    [withApp({ group: 'no-such-group-wg' }), 'apps.hello.group: no group named "no-such-group-wg" in /etc/group'],
    [withApp({ user: -1 }), 'apps.hello.user: expected an integer from 0 to 4294967294, got -1'],
    [withApp({ idleTimeout: '1000h' }), 'apps.hello.idleTimeout: expected a duration of at most 2147483647ms (about 24.8 days, the longest Node.js timer), got "1000h"'],
    [withApp({ env: { N: Infinity } }), 'apps.hello.env.N: expected a finite number, got Infinity'],
    [withApp({ env: { SECRET: ['hunter2'] } }), 'apps.hello.env.SECRET: expected a string, number or boolean, got an array'],
    [withApp({ command: ['a\0b'] }), 'apps.hello.command[0]: must not contain NUL characters'],
    [withApp({ hosts: ['a.localhost', 'A.localhost'] }), 'apps.hello.hosts[1]: host "a.localhost" is listed twice'],
  ];
  for (const [doc, issue] of cases) t.same(issuesOf(doc), [issue], issue);
});

t.test('a host may belong to one app only', async (t) => {
  const app = { command: ['node'], dir: 'app' };
  const doc = { ...MINIMAL, apps: { one: { ...app, hosts: ['a.localhost'] }, two: { ...app, hosts: ['b.localhost', 'A.LOCALHOST'] } } };
  t.same(issuesOf(doc), ['apps.two.hosts[1]: host "a.localhost" is already claimed by app "one"']);
});

t.test('YAML problems are ConfigErrors with a line and column', async (t) => {
  const issues = (text: string) => {
    try {
      parseConfig(text, INLINE);
    } catch (err) {
      if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
    return ['no ConfigError'];
  };
  t.same(issues('listen: { http: ":0" }\nlisten: {}\n'), [': YAML syntax error at line 2, column 1: Map keys must be unique']);
  t.match(issues('apps:\n  a: [1, 2\n'), [/^: YAML syntax error at line 3, column 1: /]);
  t.same(issues('['.repeat(10_000)), [': YAML nesting is deeper than 64 levels']);
  t.match(issues('listen: *nowhere\n'), [/^: invalid YAML: Unresolved alias/]);
  t.same(issues(''), [': expected a mapping at the top level, got null']);
});

t.test('an unreadable file is a ConfigError naming the file and errno', async (t) => {
  const missing = join(FIXTURES, 'missing.yaml');
  await t.rejects(loadConfig(missing), { code: 'WG_ERR_CONFIG', issues: [{ path: '', message: `cannot read ${missing}: ENOENT` }] });
  await t.rejects(loadConfig(FIXTURES), { code: 'WG_ERR_CONFIG', issues: [{ message: `cannot read ${FIXTURES.replace(/\/$/, '')}: EISDIR` }] });
});

t.test('hostile documents yield ConfigError and pollute nothing', async (t) => {
  const cyclic: Record<string, unknown> = { ...MINIMAL };
  cyclic.log = cyclic;
  t.match(issuesOf(cyclic), [/^log\.listen: unknown key/, /^log\.apps: unknown key/]);
  const text = '{"__proto__": {"x": 1}, "listen": {"http": ":0"}, "apps": {"a": {"hosts": ["a.b"], "command": ["c"], "dir": "app",' +
    ' "env": {"__proto__": "x", "constructor": "y"}, "__proto__": {"uid": 0}}}}';
  t.same(issuesOf(JSON.parse(text)), [
    '__proto__: unknown key; expected one of: listen, admin, runtimeDir, socketGroup, trustedProxies, shutdownTimeout, sampleInterval, workers, capacity, log, limits, oci, nspawn, defaults, apps',
    'apps.a.__proto__: unknown key; expected one of: hosts, listen, command, dir, env, bundle, dependsOn, runtime, idleTimeout, startTimeout, stopTimeout, queueLimit, concurrency, maxConnectionAge, responseTimeout, memory, pids, cpuWeight, user, group, wakeIgnore, backlog, busyCpu, waitingPage, freezeAfter',
  ]);
  const env = validateConfig({ ...MINIMAL, apps: { a: { ...MINIMAL.apps.hello, env: JSON.parse('{"__proto__": "x"}') } } }, INLINE, { env: {} }).apps.a?.env;
  t.equal(env?.['__proto__'], 'x', 'stored as data on a null-prototype map');
  t.equal(({} as Record<string, unknown>).x, undefined);

  // A seeded mutation fuzz: swap random nodes of a valid document for odd values.
  const odd = [null, undefined, [], {}, -1, 1e308, NaN, Infinity, '', '\0', 'x'.repeat(500), true, 10n, new Date(0), [[[]]], '*.', 'unix:'];
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
  const mutate = (v: unknown): unknown => {
    if (rnd(8) === 0) return odd[rnd(odd.length)];
    if (Array.isArray(v)) return v.map(mutate);
    if (typeof v !== 'object' || v === null) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [rnd(50) === 0 ? '__proto__' : k, mutate(x)]));
  };
  const base = { ...withApp({ env: { A: 1 }, user: 'root', memory: '64Mi' }) as object, admin: { listen: 'unix:a.sock' }, log: { level: 'warn' } };
  let thrownOther = 0;
  for (let i = 0; i < 2000; i++) {
    try {
      validateConfig(mutate(base), INLINE, { env: {} });
    } catch (err) {
      if (!(err instanceof ConfigError) || err.issues.some((x) => x.message.startsWith('failed to validate'))) thrownOther++;
    }
  }
  t.equal(thrownOther, 0, 'only ConfigError, and never from the internal-error safety net');
});

t.test('duration and size units', async (t) => {
  const durations: [unknown, number][] = [[0, 0], ['0', 0], ['500ms', 500], ['30s', 30_000], ['1.5s', 1500], ['2m', 120_000], ['1h', 3_600_000], ['1m30s', 90_000], ['1h0m0.5s', 3_600_500]];
  for (const [v, ms] of durations) t.equal(parseDuration(v), ms, String(v));
  for (const v of [30, '30', -1, '-5s', '1.s', '5 s', '5d', '', 's', '1e3s', null, '2147484s', NaN, ['1s']]) {
    t.throws(() => parseDuration(v), UnitError, `duration ${String(v)}`);
  }
  t.throws(() => parseDuration(30), { message: 'expected a duration like 30s' });
  const sizes: [unknown, number][] = [[0, 0], [512, 512], ['512', 512], ['512B', 512], ['64K', 65_536], ['64Ki', 65_536], ['64KiB', 65_536], ['64KB', 64_000], ['128Mi', 134_217_728], ['1.5Gi', 1_610_612_736], ['2GB', 2e9], ['1T', 2 ** 40], ['1TB', 1e12]];
  for (const [v, bytes] of sizes) t.equal(parseSize(v), bytes, String(v));
  for (const v of [-1, 1.5, '1.5', NaN, Infinity, '-1K', '64k', '64 Mi', 'lots', '', '99999999T', 2 ** 53, null, true]) {
    t.throws(() => parseSize(v), UnitError, `size ${String(v)}`);
  }
});
