import { readFileSync } from 'node:fs';
import type { AppSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import type { ChildHandle } from '../native/index.js';
import { DEFAULT_PATH, resolveExecutable } from './executable.js';
import { spawnWithOutput } from './output.js';
import type { ExitInfo, Instance, InstanceStats, Runtime } from './runtime.js';

/**
 * Instances as plain child processes: no isolation, for development and for hosts without an OCI runtime.
 * The child gets a clean environment (the app's env, PATH and LISTEN_*), the app dir as cwd, its own
 * session and process group, and dies with the gateway (PR_SET_PDEATHSIG) so that it never outlives it.
 */
export class ProcessRuntime implements Runtime {
  readonly kind = 'process';
  private serial = 0;

  constructor(private readonly searchPath: string = process.env.PATH || DEFAULT_PATH) {}

  async start(app: AppSpec, sockets: readonly number[], log: Logger): Promise<Instance> {
    const file = resolveExecutable(app.command[0]!, app.dir, this.searchPath);
    const env = { ...app.env, PATH: this.searchPath };
    const id = `${app.name}-${++this.serial}`;
    const { child, output } = spawnWithOutput(
      file,
      app.command,
      env,
      sockets,
      { cwd: app.dir, uid: app.uid, gid: app.gid, setsid: true, listenFdNames: sockets.map(() => app.name), deathSignal: 'SIGKILL' },
      log.child({ instance: id }),
    );
    return new ProcessInstance(id, child, output);
  }
}

class ProcessInstance implements Instance {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private stopping?: Promise<ExitInfo>;

  constructor(
    readonly id: string,
    private readonly child: ChildHandle,
    output: Promise<unknown>,
  ) {
    this.pid = child.pid;
    this.exited = child.exited.then((status) => {
      // The group id stays reserved while any member lives, so this cannot hit an unrelated process:
      // it removes whatever the app forked and left behind.
      killGroup(child.pid);
      // Output is drained once the last writer is gone, which the group kill usually guarantees; a
      // grandchild that left the group (setsid) may hold the pipe longer, so the wait is bounded.
      return Promise.race([output, delay(DEFAULTS.internal.outputDrainMs)]).then(() => status);
    });
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= (async () => {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((done) => (timer = setTimeout(done, graceMs, 'timeout')));
      const first = await Promise.race([this.exited, graceOver]);
      clearTimeout(timer);
      if (first === 'timeout') {
        this.child.kill('SIGKILL');
        killGroup(this.child.pid);
      }
      return this.exited;
    })();
    return this.stopping;
  }

  async stats(): Promise<InstanceStats> {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
      return { memoryBytes: kb === undefined ? null : Number(kb) * 1024 };
    } catch {
      return { memoryBytes: null };
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already empty
  }
}
