import { execFile } from 'node:child_process';
import { DEFAULTS } from '../defaults.js';

/** Bounds every control command: a runtime that hangs must not hang a stop or the start-up clean-up. */
const COMMAND_TIMEOUT_MS = DEFAULTS.internal.runcCommandTimeoutMs;

export interface RuncResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The control commands of an OCI runtime CLI (runc and crun share them), each against wakegate's own
 * state directory (`--root`), so that no other user of runc on the host is seen or touched.
 */
export class RuncCli {
  constructor(
    readonly binary: string,
    readonly root: string,
  ) {}

  /** argv for `run`; started by the caller through the native spawn so that it inherits the socket. */
  runArgs(bundle: string, id: string): string[] {
    // --keep: the stopped container (and its cgroup) outlives runc, so the exit's OOM count can be read.
    return [this.binary, '--root', this.root, 'run', '--keep', '--bundle', bundle, id];
  }

  kill(id: string, signal: 'TERM' | 'KILL'): Promise<RuncResult> {
    return this.exec(['kill', id, signal]);
  }

  /** Freezes every process of the container (runc's freezer cgroup); `resume` thaws it. */
  pause(id: string): Promise<RuncResult> {
    return this.exec(['pause', id]);
  }

  resume(id: string): Promise<RuncResult> {
    return this.exec(['resume', id]);
  }

  delete(id: string): Promise<RuncResult> {
    return this.exec(['delete', '--force', id]);
  }

  /** `runc 1.1.5+ds1` from the first line of `--version` (`runc version 1.1.5+ds1`); the binary's name when unreadable. */
  version(): Promise<string> {
    return new Promise((resolve) => {
      execFile(this.binary, ['--version'], { timeout: COMMAND_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '' } }, (err, stdout) => {
        const match = /^(\S+) version (\S+)/m.exec(String(stdout));
        resolve(!err && match ? `${match[1]} ${match[2]}` : this.binary.split('/').at(-1)!);
      });
    });
  }

  /** Ids of the containers in our state directory. */
  async list(): Promise<string[]> {
    const result = await this.exec(['list', '--quiet']);
    return result.ok ? result.stdout.split('\n').filter(Boolean) : [];
  }

  private exec(args: string[]): Promise<RuncResult> {
    return new Promise((resolve) => {
      execFile(this.binary, ['--root', this.root, ...args], { timeout: COMMAND_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) =>
        resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr).trim() }),
      );
    });
  }
}
