import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { ROOT, type LogLine } from './gateway.js';

/** One datagram the manager received: its fields, and the inodes of the fds that came with it. */
export interface Notification {
  readonly fields: Readonly<Record<string, string>>;
  readonly fds: ReadonlyArray<{ readonly ino: number }>;
  readonly pid: number | null;
}

export interface SdManager {
  /** $NOTIFY_SOCKET for the gateway. */
  readonly socket: string;
  readonly received: Notification[];
  /** The next notification from index `from` on that matches, received already or still to come. */
  waitFor(match: (n: Notification) => boolean, from?: number, ms?: number): Promise<Notification>;
  /** The fd store: [name, inode] in the order it passes them back. */
  store(): Promise<Array<[string, number]>>;
  /** Starts argv with the store as LISTEN_FDS; its stdout (the gateway's log) is parsed into `lines`. */
  spawn(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<number>;
  /** Log lines of what `spawn` started. */
  readonly lines: LogLine[];
  waitForLine(match: (l: LogLine) => boolean, ms?: number): Promise<LogLine>;
}

/** The python3 stand-in for systemd's notify socket and fd store (test/fixtures/sd-manager.py). */
export async function sdManager(t: Test): Promise<SdManager> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-sd-'));
  const socket = join(dir, 'notify.sock');
  const child: ChildProcess = spawn('python3', [join(ROOT, 'test/fixtures/sd-manager.py'), socket], { stdio: ['pipe', 'pipe', 'pipe'] });
  const spawned: number[] = [];
  t.teardown(async () => {
    for (const pid of spawned) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await Promise.all(spawned.map((pid) => gone(pid)));
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const received: Notification[] = [];
  const replies: Array<Record<string, unknown>> = [];
  const lines: LogLine[] = [];
  let wake: Array<() => void> = [];
  const notify = (): void => {
    const w = wake;
    wake = [];
    for (const f of w) f();
  };
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const event = JSON.parse(text) as Record<string, unknown>;
    if ('fields' in event) received.push(event as unknown as Notification);
    else replies.push(event);
    notify();
  });
  createInterface({ input: child.stderr! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      process.stderr.write(`${text}\n`);
    }
    notify();
  });
  const until = <T>(find: () => T | undefined, ms: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      const check = (): void => {
        const found = find();
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        } else wake.push(check);
      };
      check();
    });
  const reply = (key: string): Promise<Record<string, unknown>> => until(() => {
    const i = replies.findIndex((r) => key in r);
    return i < 0 ? undefined : replies.splice(i, 1)[0];
  }, 10_000, key);
  await reply('listening');
  const send = (cmd: unknown): void => void child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  return {
    socket,
    received,
    lines,
    waitFor: (match, from = 0, ms = 10_000) => until(() => received.slice(from).find(match), ms, 'a notification'),
    waitForLine: (match, ms = 10_000) => until(() => lines.find(match), ms, 'a log line'),
    store: async () => (send({ cmd: 'store' }), (await reply('store')).store as Array<[string, number]>),
    spawn: async (argv, env) => {
      send({ cmd: 'spawn', argv, env });
      const pid = (await reply('spawned')).spawned as number;
      spawned.push(pid);
      return pid;
    },
  };
}

/** Resolves once `pid` has exited (the manager never reaps; a zombie counts as gone). */
async function gone(pid: number): Promise<void> {
  const { readFileSync } = await import('node:fs');
  for (let i = 0; i < 200; i++) {
    try {
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return;
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
