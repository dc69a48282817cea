/**
 * What the gateway does on a cold start, minus the gateway: a listening socket made before the app, the
 * request queued in its backlog while the app boots, and the same clean env. One function per runtime.
 */
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Client } from 'undici';
import type { AppSpec } from '../src/config/types.js';
import { closeFd, spawn, unixListen, type ChildHandle } from '../src/native/index.js';
import { writeBundle } from '../src/runtime/bundle.js';
import { RuncCli } from '../src/runtime/runc.js';

const STOP_GRACE_MS = 5000;
const CGROUP_ROOT = '/sys/fs/cgroup';

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

/**
 * `runc run` of a bundle generated from the same spec the gateway uses, as the oci runtime does. The
 * containers' cgroups go under a scope named after `dir` (a fresh temp dir), so removeCgroups() can rmdir
 * exactly ours once done: runc delete removes each container's cgroup but not the parents it created.
 */
export function runcStarter(binary: string, dir: string, app: AppSpec): Starter & { removeCgroups(): void } {
  const runc = new RuncCli(binary, join(dir, 'runc'));
  const scope = `bench-bare-${basename(dir)}`;
  let serial = 0;
  const starter: Starter = (fd, stdio) => {
    const id = `wakegate-bench-bare-${++serial}`;
    const bundle = writeBundle(join(dir, 'bundle'), app, { cgroupsPath: `/wakegate/${scope}/${id}`, fdNames: [app.name] });
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
  const removeCgroups = (): void => {
    // v2 keeps one tree at the root; v1 (and hybrid) one per controller, whose comma names are symlinked.
    const roots = ['', ...readdirSync(CGROUP_ROOT).filter((n) => !n.includes(','))];
    for (const r of roots) {
      try {
        rmdirSync(join(CGROUP_ROOT, r, 'wakegate', scope));
      } catch {
        // not in this hierarchy (ENOENT), or not a cgroup dir at all; a cgroup rmdir never deletes files
      }
    }
  };
  return Object.assign(starter, { removeCgroups });
}

/**
 * One cold start under `systemd-socket-activate -l <path> --fdname=hello <command>` in its default mode (no
 * --accept). It binds and listens itself, sleeps in epoll until the first connection, then *execs* the app in
 * its own process: no fork, the pid stays the same, the socket is moved to fd 3 and LISTEN_PID is that pid.
 * So stopping it is one SIGTERM to the pid we spawned, which by then is node (the hello app handles
 * SIGTERM); before the exec, the same SIGTERM kills the tool itself. There is never a process tree.
 * Timed from the request send, as the gateway path is: the clock covers connect, the wake-up and the exec
 * of node to the first header, but not a fork, which happened before the clock started.
 */
export async function socketActivateOnce(binary: string, socketPath: string, command: readonly string[], cwd: string): Promise<number> {
  rmSync(socketPath, { force: true }); // a stale file would make its bind fail with EADDRINUSE
  // The tool passes only PATH, TERM, USER and HOME on to the app, so the app's env is as clean as on the
  // other paths. SYSTEMD_LOG_* are for the tool: its "Listening on" line must reach our pipe, not a journal.
  const child = spawnProcess(binary, ['-l', socketPath, '--fdname=hello', ...command], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SYSTEMD_LOG_TARGET: 'console', SYSTEMD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const client = new Client('http://localhost', { socketPath });
  try {
    await listening(child, binary);
    const t0 = performance.now();
    const res = await client.request({ path: '/', method: 'GET' });
    const elapsed = performance.now() - t0;
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`systemd-socket-activate cold start answered ${res.statusCode}`);
    return elapsed;
  } finally {
    await client.close();
    // Only signal a child that was actually spawned: after a spawn error (ENOENT) 'exit' may never come.
    if (child.pid !== undefined) await stopChild({ exited, kill: (s) => child.kill(s) }, () => child.kill('SIGTERM'));
    // The app never bound the path, so nobody else unlinks it.
    rmSync(socketPath, { force: true });
  }
}

/**
 * Resolves on the tool's "Listening on ..." line, logged after listen(): connecting earlier could be
 * refused, and polling with a connect would itself trigger the activation. Its stderr is then drained.
 */
function listening(child: ChildProcess, binary: string, timeoutMs = 10_000): Promise<void> {
  const recent: string[] = [];
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => reject(new Error(`${binary} ${why}; its stderr: ${recent.join(' | ')}`));
    const timer = setTimeout(() => fail(`was not listening after ${timeoutMs} ms`), timeoutMs);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      recent.push(line);
      if (recent.length > 5) recent.shift();
      if (line.startsWith('Listening on ')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => (clearTimeout(timer), fail(`failed to start: ${err.message}`)));
    child.once('exit', (code, signal) => (clearTimeout(timer), fail(`exited (code ${code}, signal ${signal}) before listening`)));
  });
}

/** Anything with an exit promise and a kill: a native ChildHandle or a wrapped node ChildProcess. */
interface Killable {
  readonly exited: Promise<unknown>;
  kill(signal: NodeJS.Signals): boolean;
}

async function stopChild(child: Killable, term: () => void): Promise<void> {
  term();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((done) => (timer = setTimeout(done, STOP_GRACE_MS, 'late')));
  if ((await Promise.race([child.exited, late])) === 'late') child.kill('SIGKILL');
  clearTimeout(timer);
  await child.exited;
}
