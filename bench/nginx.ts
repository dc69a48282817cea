/**
 * A throwaway nginx reverse proxy to an app's Unix socket: the reference L7 proxy the gateway is compared
 * with. Everything it writes (config, pid, error log, temp files) lives in the caller's temp dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const STOP_GRACE_MS = 5000;

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH. */
export function nginxBinary(): string {
  return spawnSync('nginx', ['-v']).error ? '/usr/sbin/nginx' : 'nginx';
}

export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly port: number,
  ) {}

  /** Starts nginx on 127.0.0.1:`port` proxying to `socketPath`; resolves once the config has loaded. */
  static async start(dir: string, port: number, socketPath: string): Promise<Nginx> {
    mkdirSync(join(dir, 'temp'), { recursive: true });
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, config(dir, port, socketPath));
    const errorLog = join(dir, 'error.log');
    // -e: nginx opens its compiled-in error log before it reads the config; keep even that one in `dir`.
    const child = spawn(nginxBinary(), ['-p', dir, '-e', errorLog, '-c', conf, '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const nginx = new Nginx(child, exited, port);
    // Ready means the master wrote its pid file and has a worker; a config error exits it instead.
    for (let waited = 0; ; waited += 20) {
      if (child.exitCode !== null || child.signalCode !== null || waited > 10_000) {
        await nginx.stop();
        throw new Error(`nginx did not start: ${stderr.trim() || readLog(errorLog)}`);
      }
      if (nginx.workers().length > 0) return nginx;
      await sleep(20);
    }
  }

  get masterPid(): number {
    return this.child.pid!;
  }

  /** Workers are the master's children; nginx reports their pids nowhere else. */
  workers(): number[] {
    return childPids(this.masterPid);
  }

  /** SIGTERM is nginx's fast shutdown; after the grace, SIGKILL the master and any worker it left orphaned. */
  async stop(): Promise<void> {
    const workers = this.workers();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    // Unref'd: the pending grace timer must not keep the bench process alive once nginx has exited.
    const late = await Promise.race([this.exited.then(() => false), sleep(STOP_GRACE_MS, true, { ref: false })]);
    if (!late) return;
    this.child.kill('SIGKILL');
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.exited;
  }
}

function config(dir: string, port: number, socketPath: string): string {
  // As root the workers would run as nobody and be refused by the 0600 socket in a 0700 dir; the gateway
  // runs as root in this bench too, so the comparison stays like for like.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `${user}
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'temp/body')};
  proxy_temp_path ${join(dir, 'temp/proxy')};
  upstream app {
    server unix:${socketPath};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Pids whose parent is `ppid`, by a scan of /proc (CONFIG_PROC_CHILDREN is not on every kernel). */
export function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised comm, which may itself contain spaces or ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) pids.push(Number(entry));
    } catch {
      // the process exited between readdir and read
    }
  }
  return pids;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '(no error log)';
  }
}
