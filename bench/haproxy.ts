/**
 * A throwaway HAProxy in front of an app's Unix socket, set up as HAProxy is at its best for this test:
 * one thread, keep-alive on both sides and idle server connections reused across clients. Its config and
 * nothing else lives in the caller's temp dir (it runs in the foreground, so it writes no pid file).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const STOP_GRACE_MS = 5000;

/** Debian installs haproxy in /usr/sbin, which is not on every user's PATH. */
export function haproxyBinary(): string {
  return spawnSync('haproxy', ['-v']).error ? '/usr/sbin/haproxy' : 'haproxy';
}

export class Haproxy {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly port: number,
  ) {}

  /** Starts HAProxy on 127.0.0.1:`port` proxying to `socketPath`; resolves once its config is valid and it runs. */
  static async start(dir: string, port: number, socketPath: string): Promise<Haproxy> {
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(conf, config(port, socketPath));
    // -c first: a config error then fails here with HAProxy's own message, rather than as a refused connection.
    const check = spawnSync(haproxyBinary(), ['-c', '-q', '-f', conf], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`haproxy refused its config: ${(check.stderr || check.stdout).trim()}`);
    // -db: foreground, no daemon and no master process, so the one pid is the one that proxies.
    const child = spawn(haproxyBinary(), ['-db', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    await sleep(0);
    if (child.exitCode !== null) throw new Error(`haproxy exited at start: ${stderr.trim()}`);
    return new Haproxy(child, exited, port);
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
