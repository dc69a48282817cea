import { join } from 'node:path';
import type { Test } from 'tap';
import { ROOT, startGateway, type TestGateway } from './gateway.js';
import type { BoundAddress } from '../../src/listen.js';
import { boundOf, EventLog } from './socket-mode.js';
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

export interface SocketGateway extends TestGateway {
  /** Every activator event (starts, cold starts, exits), counted the same way on every runtime. */
  readonly events: EventLog;
}

/** A gateway with the real runtime each app names (process or oci) and an event log; torn down with `t`. */
export async function startSocketGateway(t: Test, apps: Record<string, unknown>, top: Record<string, unknown> = {}): Promise<SocketGateway> {
  const events = new EventLog();
  const gw = await startGateway(t, apps, top, { realRuntimes: true, recorder: events });
  return Object.assign(gw, { events });
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
