/** The configs every document starts from: all valid against the fixture (./fixture.ts). */
import type { JsonObject } from './json-value.js';

export function seedObjects(): JsonObject[] {
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
      defaults: { wakeIgnore: { userAgents: ['kube-probe'] }, stopTimeout: '0', maxConnectionAge: '1h', waitingPage: false },
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
          waitingPage: { after: '2s' },
        },
      },
    },
  ];
}

/** Hand-written texts: comments, anchors and aliases, block scalars, and one hostile document. */
export function seedTexts(): string[] {
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
