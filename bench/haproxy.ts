/**
 * A throwaway HAProxy in front of an app's Unix socket, set up as HAProxy is at its best for this test:
 * one thread, keep-alive on both sides and idle server connections reused across clients. Its config and
 * nothing else lives in the caller's temp dir (it runs in the foreground, so it writes no pid file).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const STOP_GRACE_MS = 5000;
const START_WAIT_MS = 10_000;

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Debian installs haproxy in /usr/sbin, which is not on every user's PATH. */
export function haproxyBinary(): string {
  return spawnSync('haproxy', ['-v']).error ? '/usr/sbin/haproxy' : 'haproxy';
}

export class Haproxy {
  /** What HAProxy printed on stderr so far: its alerts and warnings, such as a server going DOWN or UP. */
  private stderr = '';
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly port: number,
  ) {
    child.stderr!.on('data', (b: Buffer) => {
      this.stderr += b.toString();
      for (const wake of [...this.waiters]) wake();
    });
  }

  /** Starts HAProxy on 127.0.0.1:`port` proxying to `socketPath`; resolves once its config is valid and it runs. */
  static start(dir: string, port: number, socketPath: string): Promise<Haproxy> {
    return Haproxy.run(dir, config(port, socketPath), port);
  }

  /** Starts HAProxy on a config of the caller's (which binds `port`), with `env` added to its environment. */
  static async run(dir: string, text: string, port: number, env: Readonly<Record<string, string>> = {}): Promise<Haproxy> {
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(conf, text);
    const childEnv = { ...process.env, ...env };
    // -c first: a config error then fails here with HAProxy's own message, rather than as a refused connection.
    const check = spawnSync(haproxyBinary(), ['-c', '-q', '-f', conf], { encoding: 'utf8', env: childEnv });
    if (check.status !== 0) throw new Error(`haproxy refused its config: ${(check.stderr || check.stdout).trim()}`);
    // -db: foreground, no daemon and no master process, so the one pid is the one that proxies.
    const child = spawn(haproxyBinary(), ['-db', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const haproxy = new Haproxy(child, exited, port);
    // Until it accepts: a client that came first would be refused, which is no measure of anything.
    for (const deadline = Date.now() + START_WAIT_MS; !(await accepts(port)); await sleep(20)) {
      if (child.exitCode !== null) throw new Error(`haproxy exited at start: ${haproxy.stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`haproxy did not listen on 127.0.0.1:${port} within ${START_WAIT_MS} ms: ${haproxy.stderr.trim()}`);
    }
    return haproxy;
  }

  /** Resolves with the first stderr line, printed or still to come, that `pattern` matches. */
  waitForLine(pattern: RegExp, ms: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const look = (): boolean => {
        const line = this.stderr.split('\n').find((l) => pattern.test(l));
        if (line === undefined) return false;
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve(line);
        return true;
      };
      const wake = (): void => void look();
      const timer = setTimeout(() => (this.waiters.delete(wake), reject(new Error(`haproxy printed no line matching ${pattern} within ${ms} ms:\n${this.stderr}`))), ms);
      this.waiters.add(wake);
      look();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    // Unref'd: the pending grace timer must not keep the bench process alive once HAProxy has exited.
    const late = await Promise.race([this.exited.then(() => false), sleep(STOP_GRACE_MS, true, { ref: false })]);
    if (late) this.child.kill('SIGKILL');
    await this.exited;
  }
}

function config(port: number, socketPath: string): string {
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend front
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server app ${socketPath}
`;
}
