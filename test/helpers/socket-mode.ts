import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { AppState, ColdStartEvent, ExitEvent, Recorder } from '../../src/activator/recorder.js';
import type { BoundAddress } from '../../src/listen.js';
import { FIXTURE_APP, type LogLine, type TestGateway } from './gateway.js';

export type RuntimeName = 'process' | 'oci';

/** The echo fixture (test/fixtures/apps/echo.mjs) on `runtime`. */
export function echoApp(runtime: RuntimeName, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { command: [runtime === 'oci' ? 'node' : process.execPath, 'echo.mjs'], dir: FIXTURE_APP, runtime, ...extra };
}

/** Every activator event, kept: starts and exits are counted the same way on every runtime. */
export class EventLog implements Recorder {
  readonly coldStarts: Array<ColdStartEvent & { app: string }> = [];
  readonly exits: Array<ExitEvent & { app: string }> = [];
  readonly states: Array<{ app: string; to: AppState }> = [];
  stateChanged(app: string, _from: AppState, to: AppState): void {
    this.states.push({ app, to });
  }
  coldStart(app: string, event: ColdStartEvent): void {
    this.coldStarts.push({ ...event, app });
  }
  instanceExited(app: string, event: ExitEvent): void {
    this.exits.push({ ...event, app });
  }
  load(): void {}
  starts(app: string): number {
    return this.states.filter((s) => s.app === app && s.to === 'starting').length;
  }
}

/** A directory of the test's own (0700, root's), for `unix:` listen addresses; removed with `t`. */
export function socketDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Connects to a bound address; rejects on a connect error. */
export function open(bound: BoundAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = bound.kind === 'tcp' ? connect(bound.port, bound.host) : connect(bound.path);
    socket.once('connect', () => (socket.off('error', reject), resolve(socket)));
    socket.once('error', reject);
  });
}

/** Sends `text` and resolves with what came back once it is as long as `text`. */
export function roundTrip(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

/** Connects, echoes `text` once, closes. */
export async function echo(bound: BoundAddress, text: string): Promise<string> {
  const socket = await open(bound);
  try {
    return await roundTrip(socket, text);
  } finally {
    socket.destroy();
  }
}

/** The fixture's `LISTEN {...}` line for `app`, from log line `from` on. */
export async function listenLine(gw: TestGateway, app: string, from = 0): Promise<{ fds: string | null; pid: string | null; names: string | null }> {
  const line: LogLine = await gw.waitFor((l) => l.app === app && l.stream === 'stdout' && l.msg.startsWith('LISTEN '), 15_000, from);
  return JSON.parse(line.msg.slice('LISTEN '.length)) as { fds: string | null; pid: string | null; names: string | null };
}

/** The bound address of the app's socket named by its config text. */
export function boundOf(gw: TestGateway, app: string, address: string): BoundAddress {
  const socket = gw.gateway.apps.sockets(app).find((s) => s.address === address);
  if (!socket) throw new Error(`app ${app} has no socket ${address}`);
  return socket.bound;
}
