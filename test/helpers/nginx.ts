/**
 * A real nginx for tests, with an http {} body of the test's own (the README's "Bring your own L7" block),
 * its workers run as a given user, everything it writes kept in a temp dir removed with the test.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Test } from 'tap';
import { childPids, nginxBinary } from '../../bench/nginx.js';
import { freePort } from '../../bench/wrk.js';
import { until } from './gateway.js';

export interface TestNginx {
  readonly port: number;
  /** The workers' pids: nginx reports them nowhere but as the master's children. */
  workers(): number[];
}

/** The README block from its first ```nginx fence, as it is written there. */
export function readmeNginxBlock(readme: string): string {
  const block = /^```nginx\n([\s\S]*?)^```$/m.exec(readme)?.[1];
  if (block === undefined) throw new Error('README has no ```nginx block');
  return block;
}

/** The whole nginx.conf around an http {} body: the master as root, the workers as `user` ("name [group]"). */
export function nginxConf(dir: string, httpBody: string, user: string): string {
  return `user ${user};
worker_processes 1;
worker_rlimit_nofile 8192;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'temp/body')};
  proxy_temp_path ${join(dir, 'temp/proxy')};
  fastcgi_temp_path ${join(dir, 'temp/fastcgi')};
  uwsgi_temp_path ${join(dir, 'temp/uwsgi')};
  scgi_temp_path ${join(dir, 'temp/scgi')};
${httpBody}
}
`;
}

/**
 * Starts nginx on 127.0.0.1 with `httpBody` (its `listen 80;` becomes the free port picked here); resolves
 * once a worker runs, and stops nginx (TERM, then KILL) when the test ends.
 */
export async function startNginx(t: Test, httpBody: string, user: string): Promise<TestNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-nginx-'));
  // The workers (another uid) write their temp files below it.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'temp'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, httpBody.replaceAll(/listen 80;/g, `listen 127.0.0.1:${port};`), user));
  const errorLog = join(dir, 'error.log');
  const child = spawn(nginxBinary(), ['-p', dir, '-e', errorLog, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = once(child, 'exit');
  const nginx: TestNginx = { port, workers: () => childPids(child.pid!) };
  t.teardown(async () => {
    const workers = nginx.workers();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone with the master, as it should be
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    await until(() => child.exitCode !== null || nginx.workers().length > 0, 10_000, 'an nginx worker');
  } catch (err) {
    throw new Error(`nginx did not start: ${stderr.trim() || readLog(errorLog)}`, { cause: err });
  }
  if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${stderr.trim() || readLog(errorLog)}`);
  return nginx;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '(no error log)';
  }
}
