// wakegate installed in a booted machine (systemd-machine.ts) as README "Run it under systemd" says: the
// shipped units copied to /etc/systemd/system, the config at /etc/wakegate/wakegate.yaml, the project at
// /opt/wakegate. The only changes to the shipped units are drop-ins, as an operator would write them: the
// listen addresses (free ports, since the machine shares the host's network with other tests) and,
// where a test needs it, a shorter WatchdogSec.
import { createServer, connect } from 'node:net';
import { request } from 'node:http';
import type { Test } from 'tap';
import { Machine, type BootOptions } from './systemd-machine.js';
import { report, RestartLoad, untilAnswered, type LoadTally } from './restart-load.js';

export const UNITS = ['wakegate.service', 'wakegate.socket', 'wakegate-admin.socket'] as const;

export interface Ports { readonly http: number; readonly admin: number; readonly echo: number }

/** Ports the kernel has just handed out as free on 127.0.0.1 (closed again, for systemd to bind). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  const ports = servers.map((s) => { const a = s.address(); return typeof a === 'object' && a ? a.port : 0; });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface ConfigOptions {
  /** Leave the socket-mode app out (a reload that removes an app). */
  readonly withoutEcho?: boolean;
  readonly runtime?: 'process' | 'oci' | 'systemd';
  /** hello's GREETING (a changed spec). */
  readonly greeting?: string;
  /** `workers: N` (front processes). */
  readonly workers?: number;
}

/** The config: `hello`, an HTTP app (one fd-store entry: its app socket), and `echo`, a socket-mode app (one more). */
export function wakegateConfig(ports: Ports, opts: ConfigOptions = {}): string {
  const echo = opts.withoutEcho ? '' : `  echo:
    listen: ["127.0.0.1:${ports.echo}"]
    command: ["node", "echo.mjs"]
    dir: /opt/wakegate/examples/echo
`;
  return `${configHead(ports, opts.runtime ?? 'process')}${opts.workers === undefined ? '' : `workers: ${opts.workers}\n`}apps:
  hello:
    hosts: ["hello.localhost"]
    command: ["node", "server.mjs"]
    dir: /opt/wakegate/examples/hello
${opts.greeting === undefined ? '' : `    env: { GREETING: "${opts.greeting}" }\n`}${echo}`;
}

/**
 * The top of a config for the gateway in the machine: its listeners on `ports`, /run/wakegate (the shipped
 * unit's RuntimeDirectory), and defaults for `runtime` with a long idleTimeout; `apps:` follows.
 */
export function configHead(ports: Ports, runtime: string): string {
  return `listen: { http: "127.0.0.1:${ports.http}" }
admin: { listen: "127.0.0.1:${ports.admin}" }
runtimeDir: /run/wakegate
shutdownTimeout: 5s
defaults: { runtime: ${runtime}, idleTimeout: 10m, startTimeout: 20s }
`;
}

/** Two apps of examples/hello under `apps:`: hello with limits (memory, pids, cpuWeight), nap with a 1 s idleTimeout. */
export function helloAndNap(hello: string, nap: string): string {
  return `  hello:
    hosts: ["${hello}"]
    command: ["node", "server.mjs"]
    dir: /opt/wakegate/examples/hello
    memory: 64M
    pids: 32
    cpuWeight: 50
  nap:
    hosts: ["${nap}"]
    command: ["node", "server.mjs"]
    dir: /opt/wakegate/examples/hello
    idleTimeout: 1s
`;
}

export interface InstallOptions {
  readonly watchdogSec?: number;
  readonly config?: ConfigOptions;
}

/** Installs the units and the config and reloads systemd; starts nothing. */
export async function installWakegate(machine: Machine, ports: Ports, opts: InstallOptions = {}): Promise<void> {
  await machine.run(['cp', ...UNITS.map((u) => `/opt/wakegate/units/${u}`), '/etc/systemd/system/']);
  // An empty ListenStream= first resets the shipped address, as systemd.socket(5) documents.
  machine.writeFile('/etc/systemd/system/wakegate.socket.d/port.conf', `[Socket]\nListenStream=\nListenStream=127.0.0.1:${ports.http}\n`);
  machine.writeFile('/etc/systemd/system/wakegate-admin.socket.d/port.conf', `[Socket]\nListenStream=\nListenStream=127.0.0.1:${ports.admin}\n`);
  if (opts.watchdogSec !== undefined) {
    machine.writeFile('/etc/systemd/system/wakegate.service.d/watchdog.conf', `[Service]\nWatchdogSec=${opts.watchdogSec}s\n`);
  }
  machine.writeFile('/etc/wakegate/wakegate.yaml', wakegateConfig(ports, opts.config));
  await machine.systemctl('daemon-reload');
}

/** A machine booted for the test `t` (powered off at its end), with wakegate installed and nothing started. */
export async function bootWithWakegate(t: Test, install: InstallOptions = {}, boot: BootOptions = {}): Promise<{ machine: Machine; ports: Ports }> {
  const machine = await Machine.boot(boot);
  t.teardown(() => machine.shutdown());
  const [http, admin, echoPort] = await freePorts(3);
  const ports: Ports = { http: http!, admin: admin!, echo: echoPort! };
  await installWakegate(machine, ports, install);
  return { machine, ports };
}

export interface Answer { readonly status: number; readonly body: string }

/** One request on a new connection, bounded by `timeoutMs`. */
export function get(port: number, hostHeader: string, path = '/', timeoutMs = 20_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: hostHeader }, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** A POST to the admin listener; resolves with the status. */
export function post(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, timeout: 20_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to POST ${path} within 20 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends `text` to a TCP echo server and resolves with what comes back, bounded by `timeoutMs`. */
export function echo(port: number, text: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no echo from 127.0.0.1:${port} within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.length >= text.length) { clearTimeout(timer); socket.end(); resolve(got); }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Waits (bounded) until `read()` returns `want`, for state that systemd exposes only as a property. */
export async function until<T>(what: string, read: () => Promise<T>, want: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (want(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The main pid of wakegate.service as the machine sees it ('0' when it has none). */
export async function mainPid(machine: Machine): Promise<number> {
  return Number(await machine.show('wakegate.service', 'MainPID'));
}

/** The gateway's journal (for failure messages). */
export async function journal(machine: Machine, lines = 60): Promise<string> {
  return (await machine.run(['journalctl', '--no-pager', '-o', 'cat', '-n', String(lines), '-u', 'wakegate.service'], { allowFailure: true })).stdout;
}

/**
 * One `systemctl restart wakegate.service` under the restart load on hello (two clients on new
 * connections, two on kept-alive ones), answered before and after; asserts that none was refused or failed.
 */
export async function restartUnderLoad(t: Test, machine: Machine, ports: Ports, what: string, hostHeader = 'hello.localhost'): Promise<LoadTally> {
  const load = new RestartLoad({ port: ports.http, hostHeader, newConnectionClients: 2, keepAliveClients: 2, intervalMs: 5 });
  try {
    await untilAnswered(load, 20);
    await machine.systemctl('restart', 'wakegate.service');
    await untilAnswered(load, 100);
  } finally {
    const tally = await load.stop();
    report(t, what, tally);
    t.equal(tally.refused, 0, 'no connection refused');
    t.equal(tally.failed, 0, `no request failed ${JSON.stringify(tally.failures)}`);
  }
  return load.snapshot();
}
