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

/** Runs `wakegate run` as a real process on a config written to a temp dir; killed with `t` if still alive. */
export async function runGateway(t: Test, doc: Record<string, unknown>, reuseDir?: string): Promise<GatewayProcess> {
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), 'wg-cli-'));
  const runtimeDir = join(dir, 'run');
  const configFile = join(dir, 'wakegate.json');
  const writeConfig = (d: unknown): void => writeFileSync(configFile, JSON.stringify({ listen: { http: '127.0.0.1:0' }, runtimeDir, ...(d as object) }));
  writeConfig(doc);
  const child = spawn(process.execPath, [CLI, 'run', '-c', configFile], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WAKEGATE_LOG_LEVEL: 'debug' } });
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void; from: number }> = [];
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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (match: (l: LogLine) => boolean, ms = 10_000): Promise<LogLine> => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a log line')), ms);
      waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)), from: lines.length });
    });
  };
  t.teardown(async () => {
    // Gracefully, so that the gateway stops its instances (containers outlive a SIGKILLed gateway).
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (!reuseDir) rmSync(dir, { recursive: true, force: true });
  });
  const ready = await Promise.race([waitFor((l) => l.msg === 'wakegate listening'), exited.then(() => undefined)]);
  if (!ready) throw new Error('gateway exited during start-up');
  const address = ready.address as { port: number };
  return { child, pid: child.pid!, port: address.port, lines, configFile, runtimeDir, dir, writeConfig, waitFor, exited };
}
