import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';
import { ROOT, type LogLine } from './gateway.js';

export const CLI = join(ROOT, 'dist/src/cli.js');

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly lines: LogLine[];
  readonly configFile: string;
  readonly runtimeDir: string;
  /** The temp dir holding config and runtimeDir; pass it to runGateway again to restart on the same state. */
  readonly dir: string;
  writeConfig(doc: unknown): void;
  /** Resolves with the next log line matching `match` (already seen lines count once). */
  waitFor(match: (line: LogLine) => boolean, ms?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  /** A command the CLI runs under, e.g. `['prlimit', '--nofile=256:256', '--']`. */
  readonly wrap?: readonly string[];
  /** Runs at the end of the test, after the gateway has exited. */
  readonly cleanup?: () => void;
  /** Added to the gateway's environment (NOTIFY_SOCKET, WATCHDOG_USEC, ...). */
  readonly env?: Readonly<Record<string, string>>;
  /** The gateway's stderr (and its wrapper's) as a pipe, e.g. to read what systemd-socket-activate says; default inherited. */
  readonly stderr?: 'pipe';
}

/** Runs `wakegate run` as a real process on a config written to a temp dir; killed with `t` if still alive. */
export async function runGateway(t: Test, doc: Record<string, unknown>, reuseDir?: string, options: SpawnOptions = {}): Promise<GatewayProcess> {
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), 'wg-cli-'));
  const runtimeDir = join(dir, 'run');
  const configFile = join(dir, 'wakegate.json');
  const writeConfig = (d: unknown): void => writeFileSync(configFile, JSON.stringify(configDoc(runtimeDir, d)));
  writeConfig(doc);
  const cleanup = (): void => {
    options.cleanup?.();
    if (!reuseDir) rmSync(dir, { recursive: true, force: true });
  };
  const gw = spawnGateway(t, configFile, { ...options, cleanup });
  const ready = await Promise.race([gw.waitFor((l) => l.msg === 'wakegate listening'), gw.exited.then(() => undefined)]);
  if (!ready) throw new Error('gateway exited during start-up');
  const address = ready.address as { port: number };
  return { ...gw, port: address.port, runtimeDir, dir, writeConfig };
}

/** The config document runGateway writes: `doc` on a front port chosen by the kernel, in `runtimeDir`. */
export function configDoc(runtimeDir: string, doc: unknown): Record<string, unknown> {
  return { listen: { http: '127.0.0.1:0' }, runtimeDir, ...(doc as object) };
}

export type SpawnedGateway = Pick<GatewayProcess, 'child' | 'pid' | 'lines' | 'configFile' | 'waitFor' | 'exited'>;

/**
 * Starts `wakegate run -c configFile` without waiting for it to listen (the file may be a FIFO that the
 * test feeds); stopped with SIGTERM, then SIGKILL, at the end of `t`.
 */
export function spawnGateway(t: Test, configFile: string, options: SpawnOptions = {}): SpawnedGateway {
  const [file, ...prefix] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(file!, [...prefix, CLI, 'run', '-c', configFile], { stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'], env: { ...process.env, WAKEGATE_LOG_LEVEL: 'debug', ...options.env } });
  const lines = followLog(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    // Gracefully, so that the gateway stops its instances (containers outlive a SIGKILLed gateway).
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    options.cleanup?.();
  });
  return { child, pid: child.pid!, lines: lines.lines, configFile, waitFor: lines.waitFor, exited };
}

/** Parses the JSON log lines a child writes on stdout; `waitFor` resolves with the first that matches. */
export function followLog(child: ChildProcess): { lines: LogLine[]; waitFor: GatewayProcess['waitFor'] } {
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const waitFor = (match: (l: LogLine) => boolean, ms = 10_000): Promise<LogLine> => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a log line')), ms);
      waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };
  return { lines, waitFor };
}
