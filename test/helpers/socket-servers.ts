import { join } from 'node:path';
import type { Test } from 'tap';
import type { AppState, ColdStartEvent, ExitEvent, Recorder } from '../../src/activator/recorder.js';
import { ROOT, startGateway, type TestGateway } from './gateway.js';
import type { BoundAddress } from '../../src/listen.js';
import { boundOf } from './socket-mode.js';
import { missingTool } from './tools.js';

/** Fixtures of real servers that take their listening sockets from the gateway (socket mode). */
export const SOCKET_FIXTURES = join(ROOT, 'test/fixtures/socket');

/** How a test runs the same server under one runtime: the runtime key, the node binary, and why it cannot run here. */
export interface RuntimeCase {
  readonly runtime: 'process' | 'oci';
  /** The node binary as the instance sees it: this one for a process; inside a container, the host's /usr/bin/node. */
  readonly node: string;
  readonly skip: string | false;
}

/** Socket-mode tests run on the process and oci runtimes alike; oci needs runc, and root for its namespaces. */
export const RUNTIME_CASES: readonly RuntimeCase[] = [
  { runtime: 'process', node: process.execPath, skip: false },
  { runtime: 'oci', node: 'node', skip: missingTool('runc', 'runc') || (process.getuid?.() !== 0 ? 'containers need root' : false) },
];

/** Counts what the activator reports, so a test can await a start or an exit as an event. */
export class ActivatorTally implements Recorder {
  readonly starts = new Map<string, number>();
  readonly coldStarts: Array<{ app: string; event: ColdStartEvent }> = [];
  readonly exits: Array<{ app: string; event: ExitEvent; at: number }> = [];
  readonly #waiters = new Set<() => void>();

  stateChanged(app: string, _from: AppState, to: AppState): void {
    if (to === 'starting') this.starts.set(app, (this.starts.get(app) ?? 0) + 1);
    this.#wake();
  }

  coldStart(app: string, event: ColdStartEvent): void {
    this.coldStarts.push({ app, event });
    this.#wake();
  }

  instanceExited(app: string, event: ExitEvent): void {
    this.exits.push({ app, event, at: Date.now() });
    this.#wake();
  }

  load(): void {}

  startsOf(app: string): number {
    return this.starts.get(app) ?? 0;
  }

  exitsOf(app: string): ExitEvent[] {
    return this.exits.filter((e) => e.app === app).map((e) => e.event);
  }

  /** Resolves once `check` holds after some report (or already); rejects after `ms`. */
  until(check: () => boolean, ms: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (this.#waiters.delete(waiter), reject(new Error(`timed out after ${ms} ms waiting for ${what}`))), ms);
      const waiter = (): void => {
        if (!check()) return;
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.add(waiter);
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

export interface SocketGateway extends TestGateway {
  readonly tally: ActivatorTally;
}

/** A gateway with real runtimes (process and oci) and an event tally; torn down with `t`. */
export async function startSocketGateway(t: Test, apps: Record<string, unknown>, top: Record<string, unknown> = {}): Promise<SocketGateway> {
  const tally = new ActivatorTally();
  const gw = await startGateway(t, apps, top, { realRuntimes: true, recorder: tally });
  return Object.assign(gw, { tally });
}

/** A socket-mode app (no `hosts`) for one runtime: `command` runs in `dir`, which oci mounts at /app. */
export function socketApp(rc: RuntimeCase, listen: readonly unknown[], command: readonly string[], dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { listen, command, dir, runtime: rc.runtime, ...extra };
}

/** The TCP port the gateway bound for the app's socket `address` (as the config writes it, e.g. `tcp:127.0.0.1:0`). */
export function boundPort(gw: TestGateway, app: string, address: string): number {
  const bound: BoundAddress = boundOf(gw, app, address);
  if (bound.kind !== 'tcp') throw new Error(`${address} of ${app} is not a TCP socket`);
  return bound.port;
}
