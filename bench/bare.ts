/**
 * What the gateway does on a cold start, minus the gateway: a listening socket made before the app, the
 * request queued in its backlog while the app boots, and the same clean env. One function per runtime.
 */
import { closeSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import type { AppSpec } from '../src/config/types.js';
import { closeFd, spawn, unixListen, type ChildHandle } from '../src/native/index.js';
import { writeBundle } from '../src/runtime/bundle.js';
import { RuncCli } from '../src/runtime/runc.js';

const STOP_GRACE_MS = 5000;

/** Starts the app with the socket at fd 3 and returns the child; the caller times around it. */
type Starter = (fd: number, stdio: [number, number, number]) => { child: ChildHandle; stop(): Promise<void> };

/** One bare cold start: spawn → first response header over the socket. Returns milliseconds. */
export async function bareOnce(socketPath: string, start: Starter): Promise<number> {
  const fd = unixListen(socketPath, 128);
  const client = new Client('http://localhost', { socketPath });
  const devNull = openSync('/dev/null', 'r+');
  let started: ReturnType<Starter> | undefined;
  try {
    const t0 = performance.now();
    started = start(fd, [devNull, devNull, 2]);
    const res = await client.request({ path: '/', method: 'GET' });
    const elapsed = performance.now() - t0;
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`bare cold start answered ${res.statusCode}`);
    return elapsed;
  } finally {
    closeSync(devNull);
    // Closed before SIGTERM: the app's server.close() waits for open keep-alive connections.
    await client.close();
    await started?.stop();
    closeFd(fd);
    rmSync(socketPath, { force: true });
  }
}

/** A plain fork/exec of the app, as the process runtime does. */
export function processStarter(command: readonly string[], cwd: string): Starter {
  return (fd, stdio) => {
    const child = spawn(command[0]!, command, { PATH: process.env.PATH ?? '/usr/bin:/bin' }, [fd], {
      cwd,
      setsid: true,
      stdio,
      listenFdNames: ['hello'],
      deathSignal: 'SIGKILL',
    });
    return { child, stop: () => stopChild(child, () => child.kill('SIGTERM')) };
  };
}

/** `runc run` of a bundle generated from the same spec the gateway uses, as the oci runtime does. */
export function runcStarter(binary: string, dir: string, app: AppSpec): Starter {
  const runc = new RuncCli(binary, join(dir, 'runc'));
  let serial = 0;
  return (fd, stdio) => {
    const id = `wakegate-bench-bare-${++serial}`;
    const bundle = writeBundle(join(dir, 'bundle'), app, { cgroupsPath: `/wakegate/bench-bare/${id}` });
    const child = spawn(binary, runc.runArgs(bundle, id), { PATH: process.env.PATH ?? '/usr/bin:/bin' }, [fd], {
      setsid: true,
      stdio,
      listenFdNames: [app.name],
      deathSignal: 'SIGTERM',
    });
    const stop = async (): Promise<void> => {
      await stopChild(child, () => void runc.kill(id, 'TERM'));
      await runc.delete(id);
    };
    return { child, stop };
  };
}

async function stopChild(child: ChildHandle, term: () => void): Promise<void> {
  term();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((done) => (timer = setTimeout(done, STOP_GRACE_MS, 'late')));
  if ((await Promise.race([child.exited, late])) === 'late') child.kill('SIGKILL');
  clearTimeout(timer);
  await child.exited;
}
