/**
 * A deterministic fuzzer for the config loader (used by test/unit/config-fuzz.test.ts).
 *
 * Every document is generated from one 32-bit seed: a valid seed config, then structural mutations on
 * the parsed object and textual mutations on its YAML or JSON text. Documents are parsed in a worker
 * thread whose progress sits in shared memory, so a parse that never returns is detected by the main
 * thread, reported with its document (regenerated from the seed) and the run goes on in a new worker.
 * This module is also that worker's entry point (see the end of the file).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { stringify } from 'yaml';
import { MAX_ID } from '../../src/config/accounts.js';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayConfig, ListenAddress } from '../../src/config/types.js';
import { MAX_DURATION_MS } from '../../src/config/units.js';
import { ConfigError } from '../../src/errors.js';
import { documentSeed, Rng } from './seeded-random.js';

// ---------------------------------------------------------------------------------------------------
// The fixture: directories the seed configs point at

/**
 * `root/app` (an app dir), `root/bundle` (an OCI bundle), `root/plain` (a dir without config.json),
 * `root/file.txt` (not a dir) and `root/bin/runc` (a fake OCI runtime; PATH is `root/bin`).
 * Seed configs only use paths relative to `root/wakegate.yaml`, so a document's text never depends on `root`.
 */
export function makeFixture(root: string): { file: string; path: string } {
  for (const d of ['app', 'bundle', 'plain', 'bin']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'app', 'server.js'), '');
  writeFileSync(join(root, 'bundle', 'config.json'), '{}');
  writeFileSync(join(root, 'file.txt'), 'not a directory');
  writeFileSync(join(root, 'bin', 'runc'), '#!/bin/sh\n');
  chmodSync(join(root, 'bin', 'runc'), 0o755);
  return { file: join(root, 'wakegate.yaml'), path: join(root, 'bin') };
}

// ---------------------------------------------------------------------------------------------------
// Seed configs (all valid against the fixture)

type Json = null | boolean | number | string | Json[] | JsonObject;
interface JsonObject {
  [key: string]: Json;
}

function seedObjects(): JsonObject[] {
  const many: JsonObject = {};
  for (let i = 0; i < 6; i++) {
    many[`app-${i}`] = {
      hosts: [`a${i}.example`, `*.w${i}.example`],
      command: ['node', 'server.js', `--id=${i}`],
      dir: i % 2 ? 'app' : './app',
      env: { INDEX: i, NAME: `app ${i}`, ON: i % 3 === 0 },
      ...(i % 3 === 0 && { idleTimeout: `${i + 1}m30s`, memory: `${64 + i}Mi`, pids: 16 + i }),
      ...(i % 4 === 1 && { user: i % 8 === 1 ? 'root' : String(i), group: i % 8 === 1 ? 'root' : i }),
      ...(i % 5 === 2 && { runtime: 'oci', cpuWeight: 50 + i, queueLimit: 5 }),
    };
  }
  return [
    { listen: { http: ':0' }, apps: {} },
    { listen: { http: '127.0.0.1:8080' }, apps: { hello: { hosts: ['hello.localhost'], command: ['node'], dir: 'app' } } },
    {
      listen: { http: '127.0.0.1:0' },
      admin: { listen: 'unix:admin.sock', token: '0123456789abcdef' },
      runtimeDir: './run',
      trustedProxies: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'],
      shutdownTimeout: '2s',
      log: { level: 'debug', requests: true },
      oci: { runtime: 'runc' },
      defaults: {
        runtime: 'process',
        idleTimeout: '30s',
        memory: '256Mi',
        user: 'root',
        wakeIgnore: { paths: ['/healthz', '/metrics*'], userAgents: ['UptimeRobot'], response: { status: 200, body: 'ok', retryAfter: '30s' } },
      },
      apps: {
        hello: {
          hosts: ['Hello.localhost', '*.hello.example'],
          command: ['node', 'server.js'],
          dir: './app',
          env: { GREETING: 'hi', PORT: 3000, DEBUG: true },
          runtime: 'oci',
          idleTimeout: '1m30s',
          startTimeout: '500ms',
          stopTimeout: '1.5s',
          queueLimit: 10,
          maxConnectionAge: '2h',
          memory: '128Mi',
          pids: 64,
          cpuWeight: 100,
          group: 100,
        },
        bare: { hosts: ['bare.localhost'], command: ['./run.sh'], dir: 'app', listen: ['tcp:127.0.0.1:7000', { address: 'unix:run/bare.sock', name: 'ctl', mode: '0660', group: 'daemon' }] },
        db: { command: ['./db'], dir: 'app', listen: ['[::1]:5432', ':0'], backlog: 128 },
        boxed: { hosts: ['boxed.example', '*.boxed.example'], bundle: 'bundle', runtime: 'oci', user: 'nobody', memory: '1G' },
      },
    },
    {
      listen: { http: '[::1]:8080' },
      admin: { listen: '0.0.0.0:9090', token: 'a-long-enough-admin-token' },
      trustedProxies: ['192.168.0.0/16'],
      shutdownTimeout: 0,
      defaults: { wakeIgnore: { userAgents: ['kube-probe'] }, stopTimeout: '0', maxConnectionAge: '1h' },
      apps: many,
    },
    {
      listen: { http: 'unix:gateway.sock' },
      admin: { listen: 'localhost:9090' },
      log: { level: 'warn' },
      apps: {
        box: { hosts: ['box.example'], bundle: './bundle', runtime: 'auto', memory: 8_388_608, pids: 1 },
        web: {
          hosts: ['web.example', 'www.web.example'],
          command: ['/usr/bin/env', 'python3', '-m', 'http.server'],
          dir: 'app',
          user: 0,
          group: '0',
          wakeIgnore: { paths: ['/ping'], response: { status: 204, body: '' } },
        },
      },
    },
  ];
}

/** Hand-written texts: comments, anchors and aliases, block scalars, and one hostile document. */
function seedTexts(): string[] {
  const laughs = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    laughs.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  return [
    `# A commented config with anchors
listen:
  http: "127.0.0.1:0"   # any port
admin:
  listen: unix:admin.sock
  token: 0123456789abcdef0123
runtimeDir: run
trustedProxies: [127.0.0.1, 10.0.0.0/8, "::1", fd00::/8]
shutdownTimeout: 2s
log: { level: debug, requests: true }
oci: { runtime: runc }
defaults:
  idleTimeout: 1m30s
  memory: 128Mi
  wakeIgnore:
    paths: [/healthz, /metrics*]
    userAgents: [UptimeRobot]
    response: { status: 200, body: ok, retryAfter: 30s }
apps:
  hello:
    hosts: [hello.localhost, "*.hello.example"]
    command: &cmd [node, server.js]
    dir: app
    env: &env { GREETING: hi, PORT: 3000, DEBUG: true }
    user: root
    group: 0
    runtime: oci
    pids: 64
    cpuWeight: 100
  world:
    hosts:
      - world.localhost
    command: *cmd
    dir: ./app
    env: *env
    stopTimeout: 0
  bundled:
    hosts: [b.example]
    bundle: bundle
`,
    `listen:
  http: ':0'
apps:
  text:
    hosts: [text.example]
    command:
      - sh
      - -c
      - |
        echo "hello"
        exec node server.js
    dir: app
    env:
      MOTD: >
        folded
        text
      EMPTY: ""
`,
    `{
  "listen": { "http": ":0" },
  "defaults": { "queueLimit": 3 },
  "apps": {
    "j": { "hosts": ["j.example"], "command": ["node"], "dir": "app", "env": { "A": "1" } }
  }
}
`,
    `${laughs.join('\n')}\nlisten: { http: ":0" }\napps: {}\n`,
  ];
}

// ---------------------------------------------------------------------------------------------------
// Values and keys that mutations insert

const KNOWN_KEYS = [
  'listen', 'http', 'admin', 'token', 'runtimeDir', 'trustedProxies', 'shutdownTimeout', 'log', 'level', 'requests', 'oci', 'runtime',
  'defaults', 'apps', 'hosts', 'command', 'dir', 'env', 'bundle', 'idleTimeout', 'startTimeout', 'stopTimeout', 'queueLimit',
  'maxConnectionAge', 'memory', 'pids', 'cpuWeight', 'user', 'group', 'wakeIgnore', 'paths', 'userAgents', 'response', 'status', 'body',
  'retryAfter', 'responseTimeout', 'backlog', 'busyCpu', 'sampleInterval', 'address', 'name', 'mode', 'limits', 'headersTimeout', 'requestTimeout', 'maxUrlLength', 'maxHeaderSize', 'maxHeaders',
];
const ODD_KEYS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'polluted', '', ' ', 'a.b', 'a b', '<<', '0', '-1',
  'Ünïcode', 'a\0b', '\u202e', 'LISTEN_FDS', 'PATH', 'x'.repeat(300), 'new-app', 'App', '_x', '-x',
];

/** Per key: values that are valid or nearly so, so that mutated documents still reach the later checks. */
const PLAUSIBLE: Readonly<Record<string, readonly Json[]>> = {
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

interface Generation {
  readonly r: Rng;
  readonly ops: string[];
  /** 100k-character strings and deep nesting are capped per document, to keep documents quick to parse. */
  longStrings: number;
  /** The deepest nesting made; yaml's stringifier is slow (and recursive) on very deep documents. */
  depth: number;
}

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

function nastyValue(g: Generation, depth = 0): Json {
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
function depthFor(g: Generation, depth: number): number {
  if (depth > 64 && g.depth > 64) return 5;
  g.depth = Math.max(g.depth, depth);
  return depth;
}

function deepNest(r: Rng, leaf: Json, depth: number): Json {
  let v = leaf;
  const asArray = r.chance(0.5);
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

/** Sets a key without ever invoking the `__proto__` setter. */
function put(o: JsonObject, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

function clone(v: Json): Json {
  // JSON.parse creates `__proto__` as an own data property, so odd keys survive the round trip.
  return JSON.parse(JSON.stringify(v)) as Json;
}

// ---------------------------------------------------------------------------------------------------
// Structural mutations, on the parsed object

type Container = Json[] | JsonObject;
interface Location {
  parent: Container;
  key: string;
  path: string;
}

function isContainer(v: Json): v is Container {
  return typeof v === 'object' && v !== null;
}

/** Every (parent, key) under `root`, breadth first, bounded so deeply nested junk is not walked in full. */
function locations(root: JsonObject): Location[] {
  const out: Location[] = [];
  const queue: { node: Container; path: string; depth: number }[] = [{ node: root, path: '', depth: 0 }];
  for (let i = 0; i < queue.length && out.length < 3000; i++) {
    const { node, path, depth } = queue[i]!;
    for (const key of Object.keys(node)) {
      const child = Array.isArray(node) ? node[Number(key)]! : node[key]!;
      const childPath = Array.isArray(node) ? `${path}[${key}]` : `${path}.${key.length > 20 ? `${key.slice(0, 17)}...` : key}`;
      out.push({ parent: node, key, path: childPath });
      if (isContainer(child) && depth < 12) queue.push({ node: child, path: childPath, depth: depth + 1 });
    }
  }
  return out;
}

function get(loc: Location): Json {
  return Array.isArray(loc.parent) ? loc.parent[Number(loc.key)]! : loc.parent[loc.key]!;
}

function set(loc: Location, value: Json): void {
  if (Array.isArray(loc.parent)) loc.parent[Number(loc.key)] = value;
  else put(loc.parent, loc.key, value);
}

function describeValue(v: Json): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = typeof v;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) s = String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...(${s.length})` : s;
}

function replacement(g: Generation, key: string): Json {
  const plausible = Object.hasOwn(PLAUSIBLE, key) ? PLAUSIBLE[key] : undefined;
  return plausible && g.r.chance(0.5) ? clone(g.r.pick(plausible)) : nastyValue(g);
}

function mutateStructure(g: Generation, doc: JsonObject): void {
  const { r } = g;
  const locs = locations(doc);
  if (locs.length === 0) return;
  const loc = r.pick(locs);
  const parentKey = (l: Location): string => (Array.isArray(l.parent) ? '' : l.key);
  switch (r.int(10)) {
    case 0: {
      if (Array.isArray(loc.parent)) loc.parent.splice(Number(loc.key), 1);
      else delete loc.parent[loc.key];
      g.ops.push(`delete ${loc.path}`);
      return;
    }
    case 1:
    case 2: {
      const v = replacement(g, parentKey(loc));
      set(loc, v);
      g.ops.push(`set ${loc.path} = ${describeValue(v)}`);
      return;
    }
    case 3: {
      const other = r.pick(locs);
      const [a, b] = [clone(get(loc)), clone(get(other))];
      set(loc, b);
      set(other, a);
      g.ops.push(`swap ${loc.path} <-> ${other.path}`);
      return;
    }
    case 4: {
      const targets = locs.filter((l) => isContainer(get(l)));
      const target = targets.length > 0 && r.chance(0.8) ? get(r.pick(targets)) : doc;
      if (!isContainer(target)) return;
      const key = r.chance(0.5) ? r.pick(KNOWN_KEYS) : r.pick(ODD_KEYS);
      const v = replacement(g, key);
      if (Array.isArray(target)) target.push(v);
      else put(target, key, v);
      g.ops.push(`add ${JSON.stringify(key).slice(0, 30)} = ${describeValue(v)}`);
      return;
    }
    case 5: {
      // A host claimed twice, by the same app or by another.
      const hostLists = locs.filter((l) => l.key === 'hosts' && Array.isArray(get(l)));
      if (hostLists.length === 0) return;
      const from = get(r.pick(hostLists));
      const to = get(r.pick(hostLists));
      if (Array.isArray(from) && Array.isArray(to) && from.length > 0) {
        const host = r.pick(from);
        // A copy: `from` may hold `to` (hosts nested in hosts), and pushing it itself would make a cycle.
        to.push(r.chance(0.3) && typeof host === 'string' ? host.toUpperCase() : clone(host));
        g.ops.push(`duplicate host ${describeValue(host)}`);
      }
      return;
    }
    case 6: {
      // Another app with a copy of an existing one (and so the same hosts), under an odd or fine name.
      const apps = doc.apps;
      if (!isContainer(apps) || Array.isArray(apps)) return;
      const names = Object.keys(apps);
      if (names.length === 0) return;
      const name = r.chance(0.5) ? r.pick(ODD_KEYS) : `copy-${r.int(100)}`;
      put(apps, name, clone(apps[r.pick(names)]!));
      g.ops.push(`copy an app to ${JSON.stringify(name).slice(0, 30)}`);
      return;
    }
    case 7: {
      const depth = depthFor(g, r.pick([5, 30, 63, 64, 65, 100, 500, 2000]));
      set(loc, deepNest(r, get(loc), depth));
      g.ops.push(`nest ${loc.path} ${depth} deep`);
      return;
    }
    case 8: {
      const v = get(loc);
      set(loc, r.chance(0.5) ? [v] : { [parentKey(loc) || 'x']: v });
      g.ops.push(`wrap ${loc.path}`);
      return;
    }
    default: {
      if (Array.isArray(loc.parent)) return;
      const v = get(loc);
      delete loc.parent[loc.key];
      const key = r.pick([loc.key.toUpperCase(), `${loc.key} `, `${loc.key}s`, r.pick(KNOWN_KEYS), r.pick(ODD_KEYS)]);
      put(loc.parent, key, v);
      g.ops.push(`rename ${loc.path} to ${JSON.stringify(key).slice(0, 30)}`);
    }
  }
}

function serialize(g: Generation, doc: JsonObject): string {
  // Very deep documents go out as JSON: yaml's stringifier recurses, and takes seconds for them.
  const style = g.depth > 100 ? 0 : g.r.int(6);
  g.ops.push(['json', 'pretty json', 'yaml', 'flow yaml', 'quoted yaml', 'yaml 1.1'][style]!);
  if (style === 0) return JSON.stringify(doc);
  if (style === 1) return JSON.stringify(doc, null, 2);
  if (style === 2) return stringify(doc);
  if (style === 3) return stringify(doc, { collectionStyle: 'flow' });
  if (style === 4) return stringify(doc, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
  return `%YAML 1.1\n---\n${stringify(doc, { version: '1.1' })}`;
}

// ---------------------------------------------------------------------------------------------------
// Textual mutations, on the serialized text

const CHARS = [':', '{', '}', '[', ']', ',', '"', "'", '\t', '\n', ' ', '#', '&', '*', '!', '|', '>', '%', '@', '`', '-', '?', '\\', '\0', '\ufeff', '\r', '\u2028', '\u0085', 'x', '9', '\u00e9', '\ud83d'];
const TAGS = ['!!binary', '!!js/function', '!js/function', '!!python/object:os.system', '!!map', '!!seq', '!!str', '!!int', '!!float', '!!bool', '!!null', '!!set', '!!omap', '!!pairs', '!!timestamp', '!<tag:yaml.org,2002:str>', '!e!x', '!', '!!', '!custom', '!<!>'];
const SNIPPETS = [
  '&a ', '*a', '*undefined_alias', '<<: *a', '<<: {idleTimeout: 1s}', '<<: [*a, *a]', '? ', '? [a, b]: c', '---\n', '\n...\n', '%YAML 1.1\n', '%TAG !e! tag:e.com,2000:\n',
  '%YAML 2.0\n', '!!binary aGVsbG8=', '!!set {a, b}', '!!omap [a: 1]', '!!timestamp 2001-12-14', '{', '}', '[', ']', '"', "'", '|', '>-\n', '\t', '\ufeff', '\0',
  '- ', ': ', ', ', '#', '@', '`', '\\', '\r', '{ a: [ { b: ', '&x [*x]', 'apps: &x {a: *x}', '!!js/function "function(){}"',
];

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** `key: value` lines (YAML block style, or pretty JSON) as [line start, value start, value end], in the first 20k characters. */
function valueLines(text: string): [number, number, number][] {
  const out: [number, number, number][] = [];
  const head = text.slice(0, 20_000);
  const re = /^[ \t]*(?:"[^"\n]*"|[\w.-]+):[ ]+([^\n]*?),?[ \t]*$/gm;
  for (let m = re.exec(head); m && out.length < 500; m = re.exec(head)) {
    const valueStart = m.index + m[0].length - m[0].replace(/^[^:]*:[ ]+/, '').length;
    out.push([m.index, valueStart, valueStart + m[1]!.length]);
  }
  return out;
}

function mutateText(g: Generation, text: string): string {
  const { r } = g;
  const pos = r.int(text.length + 1);
  switch (r.int(16)) {
    case 0: {
      const c = r.pick(CHARS);
      g.ops.push(`replace char ${pos} with ${JSON.stringify(c)}`);
      return text.slice(0, pos) + c + text.slice(pos + 1);
    }
    case 1: {
      const s = r.pick(SNIPPETS);
      g.ops.push(`insert ${JSON.stringify(s)} at ${pos}`);
      return text.slice(0, pos) + s + text.slice(pos);
    }
    case 2: {
      const len = r.chance(0.7) ? r.range(1, 20) : r.int(Math.ceil(text.length / 10) + 1);
      g.ops.push(`delete ${len} chars at ${pos}`);
      return text.slice(0, pos) + text.slice(pos + len);
    }
    case 3:
      g.ops.push(`truncate at ${pos}`);
      return text.slice(0, pos);
    case 4: {
      const starts = lineStarts(text);
      const i = r.int(starts.length);
      const line = text.slice(starts[i], (starts[i + 1] ?? text.length + 1) - 1);
      g.ops.push(`duplicate line ${i + 1}`);
      return `${text.slice(0, starts[i])}${line}\n${text.slice(starts[i])}`;
    }
    case 5:
      g.ops.push('BOM');
      return r.chance(0.7) ? `\ufeff${text}` : `${text.slice(0, pos)}\ufeff${text.slice(pos)}`;
    case 6:
      g.ops.push('CRLF');
      return r.chance(0.7) ? text.replace(/\n/g, '\r\n') : text.replace(/\n/g, '\r');
    case 7: {
      g.ops.push('tabs for indentation');
      return text.replace(/^( {2})+/gm, (s) => (r.chance(0.5) ? '\t'.repeat(s.length / 2) : s));
    }
    case 8: {
      const b = r.pick(['[', '{', ']', '}', '[{', '"']);
      const n = r.pick([1, 2, 3, 70, 1000, 5000]);
      g.ops.push(`insert ${JSON.stringify(b)} x${n} at ${pos}`);
      return text.slice(0, pos) + b.repeat(n) + text.slice(pos);
    }
    case 9:
    case 10: {
      // An anchor on one value and aliases to it elsewhere (possibly inside itself: a cycle).
      const lines = valueLines(text);
      if (lines.length === 0) return text;
      const [, aStart] = r.pick(lines);
      const name = `a${r.int(3)}`;
      let out = `${text.slice(0, aStart)}&${name} ${text.slice(aStart)}`;
      const aliases = r.range(1, 3);
      for (let i = 0; i < aliases; i++) {
        const targets = valueLines(out);
        const [, s, e] = r.pick(targets);
        out = `${out.slice(0, s)}*${name}${out.slice(e)}`;
      }
      g.ops.push(`anchor &${name} and ${aliases} aliases`);
      return out;
    }
    case 11: {
      const lines = valueLines(text);
      if (lines.length === 0) return text;
      const [, s] = r.pick(lines);
      const tag = r.pick(TAGS);
      g.ops.push(`tag ${tag}`);
      return `${text.slice(0, s)}${tag} ${text.slice(s)}`;
    }
    case 12: {
      // A merge key at the indentation of an existing key (merges are on in YAML 1.1).
      const lines = valueLines(text);
      if (lines.length === 0) return text;
      const [start] = r.pick(lines);
      const indent = /^[ \t]*/.exec(text.slice(start))![0];
      const merge = r.pick(['<<: *a0', '<<: {idleTimeout: 1s, polluted: yes}', '<<: [*a0, *a1]', '<<: {__proto__: {polluted: yes}}', '<<: *a0\n<<: *a0']);
      g.ops.push(`merge ${JSON.stringify(merge)}`);
      return `${text.slice(0, start)}${indent}${merge}\n${text.slice(start)}`;
    }
    case 13: {
      const d = r.pick(['%YAML 1.1\n---\n', '%YAML 1.2\n---\n', '--- !!map\n', '---\n', '--- |\n', '%TAG ! tag:yaml.org,2002:\n---\n', '# comment\n']);
      g.ops.push(`prefix ${JSON.stringify(d)}`);
      return d + text;
    }
    case 14: {
      const starts = lineStarts(text);
      if (starts.length < 2) return text;
      const i = r.int(starts.length - 1);
      const j = r.int(starts.length - 1);
      const lines = text.split('\n');
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      g.ops.push(`swap lines ${i + 1} and ${j + 1}`);
      return lines.join('\n');
    }
    default: {
      const starts = lineStarts(text);
      const at = r.pick(starts);
      const shift = r.chance(0.5);
      g.ops.push(`${shift ? 'indent' : 'dedent'} line at ${at}`);
      return shift ? `${text.slice(0, at)} ${text.slice(at)}` : text.slice(0, at) + text.slice(at).replace(/^ /, '');
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Documents

export interface FuzzDocument {
  text: string;
  /** What was done to the seed, for failure messages. */
  ops: string[];
  env: NodeJS.ProcessEnv;
}

const SEED_OBJECTS = seedObjects();
const SEED_TEXTS = seedTexts();
const MAX_TEXT = 200_000;

/** The valid seeds as texts, so the test can check that they load. */
export function seedDocuments(): string[] {
  return [...SEED_OBJECTS.map((o) => stringify(o)), ...SEED_OBJECTS.map((o) => JSON.stringify(o)), ...SEED_TEXTS.slice(0, -1)];
}

export function generateDocument(seed: number, path: string): FuzzDocument {
  const r = new Rng(seed);
  const g: Generation = { r, ops: [], longStrings: 0, depth: 0 };
  let text: string;
  let textOps: number;
  if (r.chance(0.15)) {
    const i = r.int(SEED_TEXTS.length);
    g.ops.push(`text seed ${i}`);
    text = SEED_TEXTS[i]!;
    textOps = r.chance(0.1) ? 0 : r.range(1, 4);
  } else {
    const i = r.int(SEED_OBJECTS.length);
    g.ops.push(`object seed ${i}`);
    const doc = clone(SEED_OBJECTS[i]!) as JsonObject;
    for (let n = r.pick([0, 1, 1, 1, 2, 2, 3, 4, 6]); n > 0; n--) mutateStructure(g, doc);
    text = serialize(g, doc);
    textOps = r.chance(0.35) ? r.range(1, 3) : 0;
  }
  for (; textOps > 0; textOps--) {
    const next = mutateText(g, text);
    if (next.length <= MAX_TEXT) text = next;
  }
  if (text.length > MAX_TEXT) {
    g.ops.push(`truncated to ${MAX_TEXT}`);
    text = text.slice(0, MAX_TEXT);
  }
  const env: NodeJS.ProcessEnv = { PATH: path, XDG_RUNTIME_DIR: '/run/user/1000' };
  if (r.chance(0.03)) env.WAKEGATE_LOG_LEVEL = r.pick(['', 'debug', 'LOUD', '\0']);
  return { text, ops: g.ops, env };
}

// ---------------------------------------------------------------------------------------------------
// Checks of the outcome

const APP_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HOST_RE = /^(?:\*\.)?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const APP_KEYS = new Set(['name', 'hosts', 'command', 'dir', 'bundle', 'env', 'runtime', 'uid', 'gid', 'idleTimeoutMs', 'startTimeoutMs', 'stopTimeoutMs', 'queueLimit', 'concurrency', 'maxConnectionAgeMs', 'responseTimeoutMs', 'memoryBytes', 'pids', 'cpuWeight', 'wakeIgnore', 'listen', 'backlog', 'busyCpu']);
const FD_NAME_RE = /^[A-Za-z0-9_.-]{1,255}$/;

/** The path of the first object (or array) below `root` that is not frozen. */
function unfrozen(root: unknown): string | undefined {
  const stack: [unknown, string][] = [[root, 'config']];
  const seen = new Set<object>();
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [v, path] = entry;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (!Object.isFrozen(v)) return path;
    for (const k of Reflect.ownKeys(v)) stack.push([Reflect.get(v, k), `${path}.${String(k)}`]);
  }
  return undefined;
}

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): boolean =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const isText = (v: unknown): v is string => typeof v === 'string' && v !== '' && !v.includes('\0');

function listenProblem(a: ListenAddress | undefined): string | undefined {
  if (a?.kind === 'tcp') return isText(a.host) && isInt(a.port, 0, 65535) ? undefined : 'bad tcp address';
  if (a?.kind === 'unix') return isText(a.path) && isAbsolute(a.path) && Buffer.byteLength(a.path) <= 107 ? undefined : 'bad unix path';
  return 'not an address';
}

/** What is wrong with a config the loader accepted; [] when it is a valid shape. */
export function configProblems(cfg: GatewayConfig, file: string): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string): void => {
    if (!ok) problems.push(what);
  };
  const frozen = unfrozen(cfg);
  if (frozen !== undefined) problems.push(`${frozen} is not frozen`);
  need(cfg.file === file, 'file');
  const http = listenProblem(cfg.listen?.http);
  if (http) problems.push(`listen.http: ${http}`);
  if (cfg.admin !== undefined) {
    const admin = listenProblem(cfg.admin.listen);
    if (admin) problems.push(`admin.listen: ${admin}`);
    need(cfg.admin.token === undefined || (typeof cfg.admin.token === 'string' && cfg.admin.token.length >= 16), 'admin.token');
  }
  need(isText(cfg.runtimeDir) && isAbsolute(cfg.runtimeDir), 'runtimeDir');
  need(Array.isArray(cfg.trustedProxies) && cfg.trustedProxies.every(isText), 'trustedProxies');
  need(isInt(cfg.shutdownTimeoutMs, 0, MAX_DURATION_MS), 'shutdownTimeoutMs');
  need(isInt(cfg.sampleIntervalMs, 100, MAX_DURATION_MS), 'sampleIntervalMs');
  need(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(cfg.log?.level) && typeof cfg.log.requests === 'boolean', 'log');
  need(cfg.oci?.runtime === undefined || (isText(cfg.oci.runtime) && isAbsolute(cfg.oci.runtime)), 'oci.runtime');
  // Newer sections are checked generically: numbers that are whole and not negative.
  const limits: unknown = Reflect.get(cfg, 'limits');
  if (limits !== undefined) {
    need(typeof limits === 'object' && limits !== null && Object.values(limits).every((n) => isInt(n, 0)), 'limits');
  }
  const hostOwners = new Map<string, string>();
  const addressOwners = new Set<string>();
  for (const [name, app] of Object.entries(cfg.apps ?? {})) {
    const at = (what: string): string => `apps.${name}.${what}`;
    need(app.name === name && APP_NAME_RE.test(name), at('name'));
    // Unset values are left out, not present as undefined; keys this check does not know are reported.
    for (const [key, value] of Object.entries(app)) need(APP_KEYS.has(key) && value !== undefined, at(`${key} is not an AppSpec key, or undefined`));
    need(Array.isArray(app.hosts) && (app.hosts.length > 0 || app.listen?.length > 0), at('hosts (or listen)'));
    need(Array.isArray(app.listen) && isInt(app.backlog, 1, 65_535), at('listen/backlog'));
    need(typeof app.busyCpu === 'number' && Number.isFinite(app.busyCpu) && app.busyCpu >= 0, at('busyCpu'));
    for (const entry of app.listen ?? []) {
      const problem = listenProblem(entry.address);
      if (problem) problems.push(at(`listen: ${problem}`));
      need(typeof entry.name === 'string' && FD_NAME_RE.test(entry.name), at(`listen name ${JSON.stringify(entry.name)}`));
      const key = entry.address?.kind === 'tcp' ? (entry.address.port === 0 ? undefined : `${entry.address.host}:${entry.address.port}`) : entry.address?.path;
      need(key === undefined || !addressOwners.has(key), at(`listen: ${key} is held twice`));
      if (key !== undefined) addressOwners.add(key);
    }
    for (const host of app.hosts ?? []) {
      need(typeof host === 'string' && host.length <= 253 && HOST_RE.test(host), at(`hosts: ${JSON.stringify(host)}`));
      need(!hostOwners.has(host), at(`hosts: ${JSON.stringify(host)} is also claimed by ${hostOwners.get(host)}`));
      hostOwners.set(host, name);
    }
    need(Array.isArray(app.command) && app.command.every(isText), at('command'));
    need(app.bundle === undefined ? app.command.length > 0 : app.command.length === 0 && app.dir === app.bundle, at('command/bundle'));
    need(isText(app.dir) && isAbsolute(app.dir), at('dir'));
    need(typeof app.env === 'object' && app.env !== null, at('env'));
    for (const [k, v] of Object.entries(app.env ?? {})) need(ENV_NAME_RE.test(k) && !k.startsWith('LISTEN_') && typeof v === 'string' && !v.includes('\0'), at(`env.${k}`));
    need(['process', 'oci', 'auto'].includes(app.runtime), at('runtime'));
    need(!(app.runtime === 'process' && app.bundle !== undefined), at('runtime: process with a bundle'));
    need((app.runtime !== 'oci' && app.bundle === undefined) || cfg.oci.runtime !== undefined, at('needs oci.runtime'));
    for (const k of ['idleTimeoutMs', 'startTimeoutMs', 'stopTimeoutMs', 'maxConnectionAgeMs'] as const) need(isInt(app[k], 0, MAX_DURATION_MS), at(k));
    const responseTimeoutMs: unknown = Reflect.get(app, 'responseTimeoutMs');
    need(responseTimeoutMs === undefined || isInt(responseTimeoutMs, 0, MAX_DURATION_MS), at('responseTimeoutMs'));
    need(isInt(app.queueLimit, 1), at('queueLimit'));
    need(app.uid === undefined || isInt(app.uid, 0, MAX_ID), at('uid'));
    need(app.gid === undefined || isInt(app.gid, 0, MAX_ID), at('gid'));
    need(app.memoryBytes === undefined || isInt(app.memoryBytes, 4 * 1024 ** 2), at('memoryBytes'));
    need(app.pids === undefined || isInt(app.pids, 1), at('pids'));
    need(app.cpuWeight === undefined || isInt(app.cpuWeight, 1, 10_000), at('cpuWeight'));
    const w = app.wakeIgnore;
    if (w !== undefined) {
      need(Array.isArray(w.paths) && w.paths.every((p) => isText(p) && p.startsWith('/')), at('wakeIgnore.paths'));
      need(Array.isArray(w.userAgents) && w.userAgents.every((a) => isText(a) && a === a.toLowerCase()), at('wakeIgnore.userAgents'));
      need(w.paths.length + w.userAgents.length > 0, at('wakeIgnore is empty'));
      const res = w.response;
      need(
        res === undefined || (isInt(res.status, 200, 599) && typeof res.body === 'string' && (res.retryAfterSec === undefined || isInt(res.retryAfterSec, 0))),
        at('wakeIgnore.response'),
      );
    }
  }
  return problems;
}

/** What is wrong with what the loader threw; undefined for a proper ConfigError. */
export function errorProblem(err: unknown): string | undefined {
  if (!(err instanceof ConfigError)) return `threw ${describeError(err)}`;
  if (!Array.isArray(err.issues) || err.issues.length === 0) return 'a ConfigError without issues';
  for (const issue of err.issues) {
    if (typeof issue.path !== 'string') return `an issue without a string path: ${JSON.stringify(issue)}`;
    if (typeof issue.message !== 'string' || issue.message === '') return `an issue without a message at ${JSON.stringify(issue.path)}`;
    // schema.ts turns any exception thrown while validating into this issue: it is a bug all the same.
    if (issue.message.startsWith('failed to validate config:')) return `the validator crashed: ${describeError(err.cause)}`;
  }
  return undefined;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `a non-Error: ${String(err).slice(0, 200)}`;
  const frames = (err.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 4).map((l) => l.trim());
  return `${err.name}: ${err.message.slice(0, 300)} [${frames.join(' < ')}]`;
}

/** A document, shortened for a failure message (which tap prints as YAML, escaping what needs it). */
export function excerpt(doc: FuzzDocument, max = 600): { ops: string; document: string } {
  const text = doc.text.length > max ? `${doc.text.slice(0, max)}... (${doc.text.length} characters in all)` : doc.text;
  return { ops: doc.ops.join('; ').slice(0, 600), document: text };
}

// ---------------------------------------------------------------------------------------------------
// Running: a worker parses, the main thread watches

/** Changes to the built-in prototypes since `baseline` (keys added), and inherited junk on a fresh object. */
export function pollution(baseline: Map<string, Set<PropertyKey>>): string[] {
  const found: string[] = [];
  const probe: { polluted?: unknown; isAdmin?: unknown; yes?: unknown } = {};
  if (probe.polluted !== undefined || probe.isAdmin !== undefined || probe.yes !== undefined) found.push('({}).polluted and the like are defined');
  for (const [name, keys] of prototypeKeys()) {
    const before = baseline.get(name) ?? new Set<PropertyKey>();
    for (const k of keys) if (!before.has(k)) found.push(`${name} gained ${String(k)}`);
  }
  return found;
}

export function prototypeKeys(): Map<string, Set<PropertyKey>> {
  const protos: [string, object][] = [
    ['Object.prototype', Object.prototype],
    ['Array.prototype', Array.prototype],
    ['Function.prototype', Function.prototype],
    ['String.prototype', String.prototype],
  ];
  return new Map(protos.map(([name, proto]) => [name, new Set(Reflect.ownKeys(proto))]));
}

export interface FuzzFailure {
  index: number;
  seed: number;
  problem: string;
  /** How the document was made from its seed config, and its text (shortened). */
  ops: string;
  document: string;
}

export interface FuzzReport {
  valid: number;
  rejected: number;
  maxMs: number;
  slowest: number;
  failures: FuzzFailure[];
  pollution: string[];
  /** Documents whose parse was cut short (a hang, or the worker died); neither valid nor rejected. */
  stopped: number;
}

interface WorkerInput extends FuzzOptions {
  kind: typeof WORKER_KIND;
  /** Where in `indexes` to begin (after a hang, past the document that hung). */
  from: number;
  progress: SharedArrayBuffer;
}

type WorkerMessage = { type: 'failure'; failure: FuzzFailure } | { type: 'done'; pollution: string[] };

const WORKER_KIND = 'wakegate-config-fuzz';
// Progress in shared memory: the position in `indexes` being parsed, when its parse began (ms since the
// epoch, 0 between parses), the counts so far and the slowest parse.
const P_POS = 0;
const P_STARTED = 1;
const P_VALID = 2;
const P_REJECTED = 3;
const P_MAX_MS = 4;
const P_SLOWEST = 5;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** One document: undefined when the outcome is fine, else what is wrong. */
function check(doc: FuzzDocument, file: string): { problem?: string; valid: boolean } {
  let cfg: GatewayConfig;
  try {
    cfg = parseConfig(doc.text, file, { env: doc.env, uid: 0 });
  } catch (err) {
    const problem = errorProblem(err);
    return problem === undefined ? { valid: false } : { problem, valid: false };
  }
  const problems = configProblems(cfg, file);
  return problems.length === 0 ? { valid: true } : { problem: `accepted, but: ${problems.slice(0, 5).join('; ')}`, valid: true };
}

function runWorker(input: WorkerInput): void {
  const progress = new Float64Array(input.progress);
  const baseline = prototypeKeys();
  for (let pos = input.from; pos < input.indexes.length; pos++) {
    const index = input.indexes[pos]!;
    const seed = documentSeed(input.runSeed, index);
    let doc: FuzzDocument;
    try {
      doc = generateDocument(seed, input.path);
    } catch (err) {
      const message: WorkerMessage = { type: 'failure', failure: { index, seed, problem: `the fuzzer failed to generate it: ${describeError(err)}`, ops: '', document: '' } };
      parentPort!.postMessage(message);
      continue;
    }
    progress[P_POS] = pos;
    const started = now();
    progress[P_STARTED] = started;
    const outcome = check(doc, input.file);
    const ms = now() - started;
    progress[P_STARTED] = 0;
    progress[outcome.valid ? P_VALID : P_REJECTED]! += 1;
    if (ms > progress[P_MAX_MS]!) {
      progress[P_MAX_MS] = ms;
      progress[P_SLOWEST] = index;
    }
    let problem = outcome.problem;
    if (ms > input.limitMs) problem = `${problem ? `${problem}; ` : ''}took ${ms.toFixed(0)} ms (limit ${input.limitMs} ms)`;
    if (problem !== undefined) {
      const message: WorkerMessage = { type: 'failure', failure: { index, seed, problem, ...excerpt(doc) } };
      parentPort!.postMessage(message);
    }
  }
  const done: WorkerMessage = { type: 'done', pollution: pollution(baseline) };
  parentPort!.postMessage(done);
}

export interface FuzzOptions {
  runSeed: number;
  indexes: number[];
  /** The config file name documents are parsed as (relative paths resolve against its directory). */
  file: string;
  /** PATH for the documents' environment: where the fake runc is. */
  path: string;
  /** A parse that takes longer fails. */
  limitMs: number;
  /** A parse still running after this long is a hang: its worker is terminated. */
  hangMs: number;
  workers: number;
}

/** Runs the documents in `opts.workers` workers, each taking every n-th document. */
export async function fuzzConfigs(opts: FuzzOptions): Promise<FuzzReport> {
  const slices = Array.from({ length: opts.workers }, (_, w) => opts.indexes.filter((_, i) => i % opts.workers === w));
  const reports = await Promise.all(slices.filter((s) => s.length > 0).map((indexes) => fuzzSlice({ ...opts, indexes })));
  const slowest = reports.reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
  return {
    valid: reports.reduce((n, r) => n + r.valid, 0),
    rejected: reports.reduce((n, r) => n + r.rejected, 0),
    stopped: reports.reduce((n, r) => n + r.stopped, 0),
    maxMs: slowest.maxMs,
    slowest: slowest.slowest,
    failures: reports.flatMap((r) => r.failures).sort((a, b) => a.index - b.index),
    pollution: reports.flatMap((r) => r.pollution),
  };
}

/**
 * Parses documents `indexes` of run `runSeed` in a worker (1 MB of stack like the main thread, a bounded heap).
 * A parse still running after `hangMs` is a hang: the worker is terminated, the document reported and the
 * run resumes after it in a new worker. A worker that dies (out of memory, say) is handled likewise.
 */
async function fuzzSlice(opts: FuzzOptions): Promise<FuzzReport> {
  const progress = new Float64Array(new SharedArrayBuffer(8 * 6));
  const report: FuzzReport = { valid: 0, rejected: 0, maxMs: 0, slowest: -1, failures: [], pollution: [], stopped: 0 };
  let from = 0;
  while (from < opts.indexes.length) {
    progress[P_POS] = from;
    progress[P_STARTED] = 0;
    const input: WorkerInput = { kind: WORKER_KIND, ...opts, from, progress: progress.buffer as SharedArrayBuffer };
    const stopped = await new Promise<string | undefined>((resolve) => {
      // No execArgv: the test runner's --import hooks would load into every worker, for nothing.
      const worker = new Worker(new URL(import.meta.url), { workerData: input, execArgv: [], resourceLimits: { stackSizeMb: 1, maxOldGenerationSizeMb: 1024 } });
      let finished = false;
      let reason: string | undefined;
      const watchdog = setInterval(() => {
        const started = progress[P_STARTED]!;
        if (started > 0 && now() - started > opts.hangMs) {
          reason = `still parsing after ${opts.hangMs} ms: a hang`;
          void worker.terminate();
        }
      }, 100);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'failure') report.failures.push(m.failure);
        else {
          finished = true;
          report.pollution = m.pollution;
        }
      });
      worker.on('error', (err) => {
        reason = `the worker died: ${describeError(err)}`;
      });
      worker.on('exit', (code) => {
        clearInterval(watchdog);
        resolve(finished ? undefined : (reason ?? `the worker exited with code ${code}`));
      });
    });
    if (stopped === undefined) break;
    const pos = progress[P_POS]!;
    const index = opts.indexes[pos]!;
    const seed = documentSeed(opts.runSeed, index);
    let doc: { ops: string; document: string };
    try {
      doc = excerpt(generateDocument(seed, opts.path));
    } catch (err) {
      doc = { ops: `(cannot be generated: ${describeError(err)})`, document: '' };
    }
    report.failures.push({ index, seed, problem: stopped, ...doc });
    report.stopped++;
    from = pos + 1;
  }
  report.valid = progress[P_VALID]!;
  report.rejected = progress[P_REJECTED]!;
  report.maxMs = progress[P_MAX_MS]!;
  report.slowest = progress[P_SLOWEST]!;
  return report;
}

if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND) runWorker(workerData as WorkerInput);
