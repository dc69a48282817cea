// `wakegate haproxy-config`: the generated haproxy.cfg, checked line by line where its choices matter and
// by HAProxy itself (`haproxy -c`), the command's exit statuses, and examples/haproxy kept in step with it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haproxyBinary } from '../../bench/haproxy.js';
import { validateConfig } from '../../src/config/schema.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { DEFAULTS } from '../../src/defaults.js';
import { HaproxyConfigError } from '../../src/errors.js';
import { haproxyConfig, parseBind, parseServer } from '../../src/haproxy-config.js';
import { CLI } from '../helpers/cli.js';
import { INLINE } from '../helpers/config-doc.js';
import { ROOT } from '../helpers/gateway.js';
import { missingTool } from '../helpers/tools.js';

const TOKEN = 'a-token-of-at-least-16-characters';
const SERVERS = ['10.0.0.11', '10.0.0.12', '10.0.0.13'];

function config(top: Record<string, unknown> = {}, apps?: Record<string, unknown>): GatewayConfig {
  const doc = {
    listen: { http: ':8080' },
    admin: { listen: ':9090', token: TOKEN },
    apps: apps ?? { web: { hosts: ['web.example', '*.web.example'], command: ['node'], dir: 'app' }, api: { hosts: ['api.example'], command: ['node'], dir: 'app', startTimeout: '30s' } },
    ...top,
  };
  return validateConfig(doc, INLINE, { env: {}, uid: 0 });
}

/** The lines of `section` (e.g. `backend wakegate-http`) up to the next blank line. */
function section(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(header);
  if (start < 0) throw new Error(`no "${header}" in:\n${text}`);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim());
}

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof HaproxyConfigError) return err.problem;
    throw err;
  }
  throw new Error('no HaproxyConfigError');
}

/** `haproxy -c` on `text`, with the token variable set as HAProxy would be run. */
function haproxyCheck(text: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wg-haproxy-cfg-'));
  try {
    writeFileSync(join(dir, 'haproxy.cfg'), text);
    const r = spawnSync(haproxyBinary(), ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8', env: { ...process.env, WAKEGATE_ADMIN_TOKEN: TOKEN } });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('--server and --bind parse host, port and IPv6', async (t) => {
  t.same(parseServer('10.0.0.1', 8080), { host: '10.0.0.1', port: 8080 }, 'the port defaults to listen.http');
  t.same(parseServer('Web-1.internal:81', 8080), { host: 'web-1.internal', port: 81 });
  t.same(parseServer('[fd00::1]:8080', undefined), { host: 'fd00::1', port: 8080 });
  t.same(parseBind(':80'), { host: '', port: 80 });
  t.same(parseBind('127.0.0.1:8000'), { host: '127.0.0.1', port: 8000 });
  t.match(problem(() => parseServer('10.0.0.1', undefined)), /a port is required/, 'a Unix front has no port to default to');
  t.match(problem(() => parseServer('10.0.0.1:0', 8080)), /port must be from 1 to 65535/);
  t.match(problem(() => parseServer('fd00::1:8080', 8080)), /expected HOST, HOST:PORT or \[IPv6\]:PORT/, 'IPv6 needs brackets');
  t.match(problem(() => parseServer('[nope]:1', 8080)), /expected HOST/);
  t.match(problem(() => parseBind('*:80')), /--bind "\*:80"/);
});

t.test('HTTP apps: one backend hashed on Host, retried on the next host, checked at the admin /healthz', async (t) => {
  const text = haproxyConfig(config(), { servers: SERVERS });
  t.same(section(text, 'frontend wakegate-http').filter((l) => l.startsWith('bind')), [`bind ${DEFAULTS.haproxy.bind}`]);
  const backend = section(text, 'backend wakegate-http');
  for (const line of ['balance hdr(host)', 'hash-type consistent', 'hash-balance-factor 150', 'retry-on conn-failure', 'option httpchk', 'http-check expect status 200']) {
    t.ok(backend.includes(line), line);
  }
  t.ok(text.includes('option redispatch 1'), 'every retry is redispatched');
  t.ok(backend.includes('default-server check port 9090 inter 1s fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down'), 'the check goes to the admin port, and a refused connect marks the host down');
  t.ok(backend.includes('http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost hdr Authorization "Bearer ${WAKEGATE_ADMIN_TOKEN}"'), 'the token comes from HAProxy\'s environment');
  t.notOk(text.includes(TOKEN), 'the secret itself is not in the file');
  t.ok(backend.includes('timeout server 90s'), 'the longest startTimeout (30 s) plus the built-in 60 s responseTimeout');
  t.same(backend.filter((l) => l.startsWith('server ')).map((l) => l.split(' ').slice(0, 3).join(' ')), SERVERS.map((s) => `server wg_${s}_8080 ${s}:8080`));
  const tokenless = haproxyConfig(config({ admin: { listen: '127.0.0.1:9090' } }), { servers: ['127.0.0.1:8080'], balanceFactor: 0 });
  t.ok(section(tokenless, 'backend wakegate-http').includes('http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost'), 'no token, no Authorization');
  t.notOk(tokenless.includes('hash-balance-factor'), '--balance-factor 0 leaves the load unbounded');
});

t.test('server ids come from each address, so the ring keeps every other host where it was', async (t) => {
  const ids = (servers: readonly string[]): Map<string, string> => {
    const lines = section(haproxyConfig(config(), { servers }), 'backend wakegate-http').filter((l) => l.startsWith('server '));
    return new Map(lines.map((l) => [l.split(' ')[2]!, l.split(' id ')[1]!]));
  };
  const all = ids(SERVERS);
  t.equal(new Set(all.values()).size, 3, 'distinct ids');
  t.same(ids([...SERVERS].reverse()), all, 'the order of --server does not matter');
  const fewer = ids([SERVERS[0]!, SERVERS[2]!]);
  t.same([...fewer], [...all].filter(([address]) => address !== `${SERVERS[1]}:8080`), 'removing a host leaves the others\' ids');
  t.match(problem(() => haproxyConfig(config(), { servers: ['10.0.0.11', '10.0.0.11:8080'] })), /given twice/);
});

t.test('socket-mode apps: a TCP frontend per reachable listener, keyed on the app', async (t) => {
  const apps = {
    web: { hosts: ['web.example'], command: ['node'], dir: 'app' },
    kv: { hosts: ['kv.example'], listen: ['tcp:0.0.0.0:6379', { address: 'tcp:127.0.0.1:6380', name: 'local' }], command: ['node'], dir: 'app' },
    echo: { listen: ['[::]:7000', 'unix:/run/echo.sock'], command: ['node'], dir: 'app' },
    other: { listen: ['0.0.0.0:7000'], command: ['node'], dir: 'app' },
  };
  const text = haproxyConfig(config({}, apps), { servers: SERVERS, bind: '10.0.0.10:80' });
  t.same(section(text, 'frontend tcp-kv-6379').filter((l) => l.startsWith('bind') || l.startsWith('mode')), ['mode tcp', 'bind 10.0.0.10:6379'], 'the listener\'s port on --bind\'s host');
  const kv = section(text, 'backend tcp-kv-6379');
  t.ok(kv.includes('balance hash str(kv.example)'), 'keyed on its first Host: its TCP clients reach the host its HTTP clients do');
  t.same(kv.filter((l) => l.startsWith('server ')).map((l) => l.split(' ')[2]), SERVERS.map((s) => `${s}:6379`));
  t.ok(section(text, 'backend tcp-echo-7000').includes('balance hash str(echo)'), 'an app without hosts is keyed on its name');
  t.match(text, /# kv listen 127\.0\.0\.1:6380: left out, HAProxy cannot reach a loopback address on another host\./);
  t.match(text, /# echo listen unix:\/run\/echo\.sock: left out, HAProxy cannot reach a Unix socket on another host\./);
  t.notOk(section(text, 'backend wakegate-http').some((l) => l.includes('echo')), 'an app without hosts is not in the HTTP backend');
  t.match(text, /# other listen 0\.0\.0\.0:7000: left out, HAProxy already fronts port 7000 on 10\.0\.0\.10\./, 'one port, one frontend');
  const tcpOnly = haproxyConfig(config({}, { echo: apps.echo }), { servers: SERVERS });
  t.notOk(tcpOnly.includes('wakegate-http'), 'no HTTP app, no HTTP frontend');
});

t.test('configs and host lists HAProxy could not front are refused, naming why', async (t) => {
  t.match(problem(() => haproxyConfig(config({ admin: undefined }), { servers: SERVERS })), /no admin listener/);
  t.match(problem(() => haproxyConfig(config({ admin: { listen: 'unix:/run/wg-admin.sock' } }), { servers: SERVERS })), /Unix socket/);
  t.match(problem(() => haproxyConfig(config({ admin: { listen: '127.0.0.1:9090' } }), { servers: SERVERS })), /cannot reach on 10\.0\.0\.11/);
  t.match(problem(() => haproxyConfig(config({ admin: { listen: ':0', token: TOKEN } }), { servers: SERVERS })), /port 0/);
  t.match(problem(() => haproxyConfig(config(), { servers: [] })), /at least one --server/);
  for (const factor of [99, 1.5, Number.NaN]) t.match(problem(() => haproxyConfig(config(), { servers: SERVERS, balanceFactor: factor })), /--balance-factor/, String(factor));
});

t.test('HAProxy accepts what is generated', { skip: missingTool('haproxy', 'haproxy') }, async (t) => {
  const apps = {
    web: { hosts: ['web.example'], command: ['node'], dir: 'app', responseTimeout: 0 },
    kv: { hosts: ['kv.example'], listen: ['tcp:0.0.0.0:6379'], command: ['node'], dir: 'app' },
  };
  for (const [name, text] of [
    ['HTTP and TCP apps, three hosts', haproxyConfig(config({}, apps), { servers: SERVERS })],
    ['IPv6 hosts and bind', haproxyConfig(config(), { servers: ['[fd00::11]:8080', '[fd00::12]:8080'], bind: '[::]:80' })],
    ['a tokenless admin on one machine', haproxyConfig(config({ admin: { listen: '127.0.0.1:9090' } }), { servers: ['127.0.0.1:8080', '127.0.0.1:8081'] })],
  ] as const) {
    const r = haproxyCheck(text);
    t.equal(r.status, 0, `${name}: ${r.output}`);
  }
});

t.test('the command: stdout, exit statuses, and examples/haproxy in step with it', async (t) => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'haproxy-config', ...args], { encoding: 'utf8', cwd: ROOT });
  const example = 'examples/haproxy/wakegate.yaml';
  const r = run('-c', example, ...SERVERS.flatMap((s) => ['--server', s]));
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, readFileSync(join(ROOT, 'examples/haproxy/haproxy.cfg'), 'utf8'), 'examples/haproxy/haproxy.cfg is what the command prints (regenerate it with the line in wakegate.yaml)');
  if (!missingTool('haproxy', 'haproxy')) {
    const check = haproxyCheck(r.stdout);
    t.equal(check.status, 0, `haproxy -c accepts the example: ${check.output}`);
  }
  const usage = run('-c', example);
  t.equal(usage.status, 2, 'no --server is a usage error');
  t.match(usage.stderr, /at least one --server/);
  const refused = run('-c', 'examples/wakegate.yaml', '--server', '10.0.0.11');
  t.equal(refused.status, 1, 'a config HAProxy cannot check from afar');
  t.match(refused.stderr, /admin\.listen is 127\.0\.0\.1:9090/);
  t.equal(refused.stdout, '', 'nothing is printed');
  t.equal(run('-c', example, '--server', '10.0.0.11', '--balance-factor', '').status, 1, 'an empty --balance-factor is not 0');
});
