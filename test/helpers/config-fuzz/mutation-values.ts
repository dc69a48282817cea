/** Values and keys that mutations insert. */
import { MAX_ID } from '../../../src/config/accounts.js';
import type { Rng } from '../seeded-random.js';
import type { Generation } from './generation.js';
import { type Json, type JsonObject, put } from './json-value.js';

export const KNOWN_KEYS = [
  'listen', 'http', 'admin', 'token', 'runtimeDir', 'trustedProxies', 'shutdownTimeout', 'log', 'level', 'requests', 'oci', 'runtime',
  'defaults', 'apps', 'hosts', 'command', 'dir', 'env', 'bundle', 'idleTimeout', 'startTimeout', 'stopTimeout', 'queueLimit',
  'maxConnectionAge', 'memory', 'pids', 'cpuWeight', 'user', 'group', 'wakeIgnore', 'paths', 'userAgents', 'response', 'status', 'body',
  'retryAfter', 'responseTimeout', 'backlog', 'busyCpu', 'waitingPage', 'after', 'file', 'sampleInterval', 'address', 'name', 'mode', 'limits', 'headersTimeout', 'requestTimeout', 'maxUrlLength', 'maxHeaderSize', 'maxHeaders',
];
export const ODD_KEYS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'polluted', '', ' ', 'a.b', 'a b', '<<', '0', '-1',
  'Ünïcode', 'a\0b', '\u202e', 'LISTEN_FDS', 'PATH', 'x'.repeat(300), 'new-app', 'App', '_x', '-x',
];

/** Per key: values that are valid or nearly so, so that mutated documents still reach the later checks. */
export const PLAUSIBLE: Readonly<Record<string, readonly Json[]>> = {
  http: [':0', '127.0.0.1:0', '[::1]:0', 'localhost:8080', 'unix:gw.sock', 'unix:/tmp/x.sock', ':65535', ':65536', '[::1:80', '1.2.3.4:', '::1:80', 'unix:'],
  listen: ['unix:a.sock', '127.0.0.1:9090', '8.8.8.8:1', ['tcp:127.0.0.1:0'], ['tcp:[::1]:1', 'unix:s.sock'], [{ address: ':7000', name: 'a.b' }], [{ name: 'x:y' }], ['tcp:unix:/x'], ['localhost:1'], []],
  backlog: [1, 511, 65535, 65536, 0, '4096'],
  busyCpu: ['2%', '0.5%', '150%', 0, '0', 2, '-1%', '2 %', '%'],
  sampleInterval: ['1s', '100ms', '99ms', '0', 0, '1h'],
  address: ['tcp:127.0.0.1:7000', 'unix:/tmp/y.sock', 'tcp:', 5],
  name: ['ctl', 'a:b', '', 'x'.repeat(256)],
  mode: ['0660', '660', '0o600', '0777', '1777', '0800', 660, '', 'rw'],
  token: ['0123456789abcdef', 'short', 'x'.repeat(64)],
  runtimeDir: ['/run/x', 'rel', '.'],
  trustedProxies: [['::/0'], ['1.2.3.4/33'], ['10.0.0.0/8', 'fe80::/10'], ['1.2.3.4/'], ['not-an-ip']],
  level: ['trace', 'silent', 'INFO', 'verbose'],
  requests: [true, false, 'yes'],
  runtime: ['process', 'oci', 'auto', 'runc', 'bin/runc', '/nonexistent/runc', 'crun'],
  hosts: [['x.example'], ['*.x.example'], ['X.EXAMPLE', 'x.example'], [], ['a.example:80'], ['*.*.x'], ['-.example'], ['\u212a.example']],
  command: [['sh'], [], [''], ['node', ''], ['a\0b']],
  dir: ['app', './app', '.', '/', 'plain', 'file.txt', 'missing', '../', '/nonexistent', 'app/server.js'],
  bundle: ['bundle', 'plain', 'file.txt', 'missing', '.', 'bundle/config.json'],
  env: [{}, { A: 'b' }, { LISTEN_PID: '1' }, { '1X': 'a' }, { A: null }, { A: ['x'] }, { A: 1.5 }, { _: '' }],
  idleTimeout: ['0', 0, '30s', '1m30s', '1.5s', '500ms', '2h', '596h', '597h', '1.0000001ms', '30', '1d', 's', '1m1m1m'],
  startTimeout: ['10s', '0.5s', '24h'],
  stopTimeout: ['5s', '0', '-1s'],
  maxConnectionAge: ['1h', '0', '99999999999999999999h'],
  shutdownTimeout: ['10s', '0', '100ms'],
  retryAfter: ['30s', '0', '1ms', '1.5s'],
  responseTimeout: ['60s', '0', '1ms'],
  limits: [{}, { headersTimeout: '5s', requestTimeout: '1s' }, { maxUrlLength: '8Ki', maxHeaderSize: 0, maxHeaders: 100 }],
  headersTimeout: ['10s', '0'],
  requestTimeout: ['5m', '0', '1ms'],
  maxUrlLength: ['8Ki', 1, 0],
  maxHeaderSize: ['16Ki', '1B', '0'],
  maxHeaders: [1, 100, 0],
  queueLimit: [1, 1000, 0, 2 ** 53, '10'],
  pids: [1, 64, 0, 1.5],
  cpuWeight: [1, 10_000, 10_001, 0],
  memory: ['128Mi', '4Mi', '1G', '64KB', '4194303', 4_194_304, '1.5Gi', '8T', '9007199254740992', '0.5Ki', '1e3M', '16777216B', '12MiB'],
  user: ['root', 'nobody', 0, '0', 65534, MAX_ID, MAX_ID + 1, 'no-such-user', '', 'root:x'],
  group: ['root', 'daemon', 0, '1', MAX_ID, 'no-such-group'],
  status: [200, 503, 599, 199, 600, '200'],
  body: ['', 'asleep', 'x'.repeat(2000)],
  paths: [['/'], ['/a*'], ['no-slash'], []],
  userAgents: [['Bot'], [''], []],
};

function longString(g: Generation): string {
  // Rarer than other values: a 100k-character document takes yaml tens of milliseconds, 100 times a small one.
  if (g.longStrings++ >= 1 || g.r.chance(0.85)) return g.r.pick(['x', 'a.', '9', '1m', '\u00e9']).repeat(g.r.range(50, 1000));
  return g.r.pick([
    () => 'x'.repeat(100_000),
    () => 'a.'.repeat(50_000),
    () => '9'.repeat(100_000),
    () => `:${'1'.repeat(99_999)}`,
    () => `unix:${'d/'.repeat(50_000)}`,
    () => `${'1'.repeat(99_990)}s`,
    () => '1m'.repeat(50_000),
    () => '1.'.repeat(50_000),
    () => '\u00e9'.repeat(100_000),
  ])();
}

export function nastyValue(g: Generation, depth = 0): Json {
  const { r } = g;
  switch (r.int(depth > 2 ? 6 : 12)) {
    case 0:
      return null;
    case 1:
      return r.pick([0, -0, -1, 1, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 31, 2 ** 32 - 1, 2 ** 32, NaN, Infinity, -Infinity, 5e-324]);
    case 2:
      return r.pick(['', ' ', 'NaN', '.nan', 'Infinity', '-1', '1e308', 'null', '~', 'true', 'yes', 'no', '0x10', '0o7', '1_000', '+1', '-0']);
    case 3:
      return r.pick(['\u2603', '\u00e9', '\u212a', '\u0130', '\u202e', '\ud800', '\udfff\ud800', '\u{1f600}', '\uff46\uff55\uff4c\uff4c', '\0', 'a\0b', '\r\n', '\t', '\u2028', '\ufeff', '\u0085', '\x1b[31m']);
    case 4:
      return r.chance(0.5);
    case 5:
      return r.pick(['../../etc', '/', '/dev/null', '/proc/self', 'unix:', `unix:${'a'.repeat(200)}`, '*', '*.', '.', '..', '%', '&a', '*a', '!!binary', '<<', '{', '[', '"', "'", '#', '- x', 'a: b']);
    case 6:
      return longString(g);
    case 7: {
      const n = r.int(4);
      return Array.from({ length: n }, () => nastyValue(g, depth + 1));
    }
    case 8: {
      const o: JsonObject = {};
      for (let i = r.int(4); i > 0; i--) put(o, r.chance(0.5) ? r.pick(KNOWN_KEYS) : r.pick(ODD_KEYS), nastyValue(g, depth + 1));
      return o;
    }
    case 9:
      return deepNest(r, 'x', depthFor(g, r.pick([10, 63, 65, 200, 1000])));
    case 10: {
      // Payloads that would pollute prototypes if a merge copied keys naively.
      const polluter: JsonObject = {};
      put(polluter, 'polluted', 'yes');
      const holder: JsonObject = {};
      put(holder, r.pick(['__proto__', 'constructor', 'prototype']), r.chance(0.5) ? polluter : { prototype: polluter });
      return holder;
    }
    default:
      return r.pick(['x.example', '*.x.example', 'app', '30s', '128Mi', 'root', ':0', 'node']);
  }
}

/** One deep nesting per document: two could be deeper than JSON.stringify can take on the worker's 1 MB stack. */
export function depthFor(g: Generation, depth: number): number {
  if (depth > 64 && g.depth > 64) return 5;
  g.depth = Math.max(g.depth, depth);
  return depth;
}

export function deepNest(r: Rng, leaf: Json, depth: number): Json {
  let v = leaf;
  const asArray = r.chance(0.5);
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}
