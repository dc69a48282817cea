/**
 * A real `wakegate run` child for the scenarios: its own temp dir (config + runtimeDir), parsed pino lines,
 * and a stop that always reaps it. Benchmarks talk to the gateway exactly as operators do, from outside.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root: this file compiles to dist/bench/, two levels below it. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli.js');
export const HELLO_DIR = join(ROOT, 'examples/hello');

export type LogLine = Record<string, unknown> & { msg: string };

export interface ExitResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const STOP_GRACE_MS = 5000;

export class GatewayProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<ExitResult>;
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    /** performance.now() just before the spawn: fork/exec of node is part of what start-up costs. */
    readonly spawnedAt: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        this.lines.push(JSON.parse(text) as LogLine);
      } catch {
        return; // not a log line (stray output); the scenarios only read structured lines
      }
      for (const wake of [...this.waiters]) wake();
    });
  }

  /**
   * `apps` is the config's `apps` mapping; listen and runtimeDir are filled in here. `nofile`: the child's
   * RLIMIT_NOFILE (soft and hard, through prlimit), for gateways holding more sockets than a shell's default.
   * `tmp`: where the temp dir (config and runtimeDir) goes instead of os.tmpdir().
   */
  static start(apps: Record<string, unknown>, extra: Record<string, unknown> = {}, options: { readonly nofile?: number; readonly tmp?: string } = {}): GatewayProcess {
    const dir = mkdtempSync(join(options.tmp ?? tmpdir(), 'wg-bench-'));
    const configFile = writeConfig(dir, apps, extra);
    const spawnedAt = performance.now();
    const argv = [process.execPath, CLI, 'run', '-c', configFile];
    const [command, ...args] = options.nofile === undefined ? argv : ['prlimit', `--nofile=${options.nofile}`, '--', ...argv];
    const child = spawn(command!, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, WAKEGATE_LOG_LEVEL: 'info' },
    });
    return new GatewayProcess(child, dir, spawnedAt);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Rewrites the config file as `start` wrote it, with these apps; a reload (SIGHUP) then reads it. */
  rewrite(apps: Record<string, unknown>, extra: Record<string, unknown> = {}): void {
    writeConfig(this.dir, apps, extra);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /**
   * The first line at index >= `from` that matches. Indexes let a caller wait for the *next* idle stop
   * rather than be satisfied by an earlier one. Rejects on timeout or if the gateway exits first.
   */
  waitFor(match: (line: LogLine) => boolean, from = 0, timeoutMs = 15_000): Promise<{ line: LogLine; index: number }> {
    return new Promise((resolve, reject) => {
      let checked = from;
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for a gateway log line`)), timeoutMs);
      const finish = (err: Error | undefined, found?: { line: LogLine; index: number }): void => {
        clearTimeout(timer);
        this.waiters.delete(scan);
        if (err) reject(err);
        else resolve(found!);
      };
      const scan = (): void => {
        for (; checked < this.lines.length; checked++) {
          const line = this.lines[checked]!;
          if (match(line)) return finish(undefined, { line, index: checked });
        }
      };
      this.waiters.add(scan);
      void this.exited.then((e) => finish(new Error(`gateway exited (code ${e.code}, signal ${e.signal}) while waiting for a log line`)));
      scan();
    });
  }

  /** Resolves with the listening line and the elapsed ms since spawn, measured when the line arrives. */
  async ready(timeoutMs = 60_000): Promise<{ port: number; startupMs: number }> {
    const { line } = await this.waitFor((l) => l.msg === 'wakegate listening', 0, timeoutMs);
    const startupMs = performance.now() - this.spawnedAt;
    return { port: (line.address as { port: number }).port, startupMs };
  }

  /** SIGTERM (graceful shutdown stops every instance), SIGKILL after 5 s; always removes the temp dir. */
  async stop(): Promise<ExitResult> {
    try {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((done) => (timer = setTimeout(done, STOP_GRACE_MS, 'late')));
      const first = await Promise.race([this.exited, late]);
      clearTimeout(timer);
      if (first === 'late') this.child.kill('SIGKILL');
      return await this.exited;
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function writeConfig(dir: string, apps: Record<string, unknown>, extra: Record<string, unknown>): string {
  const configFile = join(dir, 'wakegate.json');
  writeFileSync(configFile, JSON.stringify({ listen: { http: '127.0.0.1:0' }, runtimeDir: join(dir, 'run'), ...extra, apps }));
  return configFile;
}
