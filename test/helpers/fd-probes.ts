// What the readiness tests look at: queued connections, event-loop turns, this process's fds and their flags.
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { Test } from 'tap';

/** Connects and resolves once the kernel has queued the connection (the handshake needs no accept). */
export function connectQueued(t: Test, target: { port: number; host?: string } | { path: string }): Promise<net.Socket> {
  const socket = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host ?? '127.0.0.1');
  t.teardown(() => socket.destroy());
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A few full event-loop turns: a level-triggered poll that is due would have fired by then. */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

export function isNonBlocking(fd: number): boolean {
  const flags = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
  return (parseInt(flags, 8) & 0o4000) !== 0;
}
