// A booted systemd (the host's own, 252 on Debian 12) as PID 1 of a throw-away machine, for the tests and
// the bench that need a real service manager: `systemd-nspawn -D / --volatile=yes -b` (the recipe in
// DESIGN.md), with the project bound read-only at /opt/wakegate, where units/wakegate.service expects it.
//
// - The machine shares the host's network namespace, so the host side connects to the ports of the socket
//   units it starts.
// - Commands run inside with nsenter into PID 1's namespaces; files are written through /proc/<pid1>/root,
//   which is the machine's tmpfs root (/etc included) seen from the host.
// - nspawn runs in a cgroup of its own (in the name=systemd and the unified hierarchies), so the
//   `payload`/`supervisor` cgroups it creates beside itself are below that one, never at a hierarchy's
//   root where two machines would share them, and the whole subtree is removed after poweroff. A
//   `memory-v1` machine also gets a v1 memory cgroup of its own, below the test's.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from './gateway.js';
import { findTool } from './tools.js';

/** The Debian packages the harness runs: nspawn itself, and nsenter to run commands inside. */
export const MACHINE_TOOLS = { 'systemd-nspawn': 'systemd-container', nsenter: 'util-linux', 'systemd-analyze': 'systemd' } as const;

export interface RunResult { readonly code: number; readonly stdout: string; readonly stderr: string }

export interface RunOptions {
  /** Bound on the command's run time; past it the command is killed and run() rejects. */
  readonly timeoutMs?: number;
  /** Resolve with a failing result instead of rejecting. */
  readonly allowFailure?: boolean;
}

/**
 * What runc needs to make a container inside the machine, where the gateway's `oci` runtime runs:
 * - the unified hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1: cgroup2, here the host's hybrid one without
 *   controllers), because in legacy mode nspawn mounts the v1 controllers read-only, and runc (and the
 *   process runtime's v1 cgroups) cannot create the tenant's cgroup below the delegated service
 *   (`mkdir /sys/fs/cgroup/cpuset/system.slice: read-only file system`);
 * - every capability and the keyring, mount and privileged system calls, which nspawn's defaults refuse
 *   (runc: `unable to join session keyring`, then `error during container init: operation not permitted`).
 * The machine is a test fixture run as root; it isolates nothing that the host needs kept from it.
 */
const CONTAINER_ARGS = ['--capability=all', '--system-call-filter=@keyring', '--system-call-filter=@mount', '--system-call-filter=@privileged'];

const HIERARCHIES = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'];
const MEMORY_V1 = '/sys/fs/cgroup/memory';

export interface BootOptions {
  readonly project?: string;
  readonly timeoutMs?: number;
  /**
   * `unified` (the default): cgroup2 only, as runc inside needs, and on a hybrid host without controllers.
   * `memory-v1`: the host's hybrid layout (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY unset, so nspawn picks hybrid
   * for a hybrid host), with the v1 memory controller made writable for the machine's systemd (see
   * writableMemory), so that MemoryMax is enforced as on a hybrid host's own systemd. No runc inside.
   */
  readonly cgroups?: 'unified' | 'memory-v1';
}

/** The test process's own cgroup in the v1 memory hierarchy (a machine's goes below it, never beside). */
export function ownMemoryCgroup(): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (line === undefined) throw new Error('no v1 memory hierarchy in /proc/self/cgroup');
  return join(MEMORY_V1, line.slice(line.lastIndexOf(':') + 1));
}
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0' };

/** Wait for `ready()` with short sleeps, because some states have no event to await (a pid appearing). */
async function poll<T>(what: string, ready: () => T | undefined, timeoutMs: number, failed?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = ready();
    if (value !== undefined) return value;
    const failure = failed?.();
    if (failure !== undefined) throw new Error(`${what}: ${failure}`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  rmdirSync(dir);
}

export class Machine {
  /** PID 1 of the machine, as the host sees it; 0 until it has started. */
  leader = 0;
  private output = '';
  private exited: { code: number | null; signal: string | null } | undefined;
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly nspawn: ChildProcess,
    private readonly cgroups: readonly string[],
  ) {
    nspawn.stdout?.on('data', (chunk: Buffer) => { this.output = (this.output + chunk.toString()).slice(-20_000); });
    nspawn.stderr?.on('data', (chunk: Buffer) => { this.output = (this.output + chunk.toString()).slice(-20_000); });
    this.exit = new Promise((resolve) => nspawn.on('exit', (code, signal) => { this.exited = { code, signal }; resolve(); }));
  }

  /** Boots the machine and waits (bounded) until its PID 1 has started dbus, so systemctl and the bus work. */
  static async boot(opts: BootOptions = {}): Promise<Machine> {
    const project = opts.project ?? ROOT;
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const memoryV1 = opts.cgroups === 'memory-v1';
    const name = `wg-${randomBytes(4).toString('hex')}`;
    const cgroups = HIERARCHIES.filter((h) => existsSync(join(h, 'cgroup.procs'))).map((h) => join(h, name));
    // The machine's systemd makes its slices at the root of its cgroup namespace: in a memory cgroup of its own.
    if (memoryV1) cgroups.push(join(ownMemoryCgroup(), name));
    for (const dir of cgroups) mkdirSync(dir);
    const binds = [`--bind-ro=${project}:/opt/wakegate`];
    // node_modules may be a symlink (a shared install): its target must exist inside at the same path.
    const modules = join(project, 'node_modules');
    if (existsSync(modules) && realpathSync(modules) !== modules) binds.push(`--bind-ro=${realpathSync(modules)}`);
    const argv = [
      '-q', '-D', '/', '--volatile=yes', `--machine=${name}`, '--register=no', '--keep-unit', '--console=pipe', ...binds,
      ...CONTAINER_ARGS, '-b', 'systemd.mask=systemd-firstboot.service', 'systemd.unit=basic.target',
    ];
    const joinCgroups = cgroups.map((dir) => `echo $$ > ${dir}/cgroup.procs`).join('; ');
    // The shell joins the cgroups first, then becomes nspawn, so nspawn and everything below it start there.
    const nspawn = spawn('/bin/sh', ['-c', `${joinCgroups}; exec "$0" "$@"`, findTool('systemd-nspawn')!, ...argv], {
      env: memoryV1 ? ENV : { ...ENV, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const machine = new Machine(name, nspawn, cgroups);
    try {
      const gone = () => (machine.exited ? `nspawn exited (${JSON.stringify(machine.exited)}): ${machine.output}` : undefined);
      machine.leader = await poll('machine PID 1', () => childrenOf(nspawn.pid!).find((pid) => {
        try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd'; } catch { return false; }
      }), timeoutMs, gone);
      // systemctl talks to PID 1 over /run/systemd/private, which PID 1 opens early; once it exists, a
      // `systemctl start` of the bus waits for that job's completion, an event rather than a state to poll.
      await poll('systemd private socket', () => (existsSync(machine.path('/run/systemd/private')) ? true : undefined), timeoutMs, gone);
      if (memoryV1) await machine.writableMemory();
      await machine.systemctl('start', 'dbus.service');
      return machine;
    } catch (err) {
      await machine.shutdown();
      throw err;
    }
  }

  /**
   * nspawn mounts the v1 controllers read-only without a user namespace, and systemd counts a controller
   * it cannot write as unsupported (MemoryMax accepted, not applied). A bind remount makes this machine's
   * mount of the memory hierarchy writable (remounting the superblock is refused, `mount point is busy`:
   * the host shares it); the cgroup namespace still confines the machine to its own subtree. systemd
   * probes its controllers only when it starts, hence the re-exec.
   */
  private async writableMemory(): Promise<void> {
    await this.run(['mount', '-o', 'remount,bind,rw', '/sys/fs/cgroup/memory']);
    await this.systemctl('daemon-reexec');
  }

  /** The host's path of a path inside the machine. */
  path(inside: string): string {
    return `/proc/${this.leader}/root${inside}`;
  }

  writeFile(inside: string, content: string): void {
    mkdirSync(dirname(this.path(inside)), { recursive: true });
    writeFileSync(this.path(inside), content);
  }

  removeFile(inside: string): void {
    rmSync(this.path(inside), { force: true, recursive: true });
  }

  /** Runs argv inside the machine (all of PID 1's namespaces) with a clean environment. */
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      // tap's process tracking puts NODE_OPTIONS=--import <its loader> into every child's environment, even
      // one given in full; the loader's path does not exist inside the machine, so a node run there fails.
      const child = spawn(findTool('nsenter')!, ['-t', String(this.leader), '-a', '--', '/usr/bin/env', '-u', 'NODE_OPTIONS', ...argv], {
        env: ENV,
        stdio: ['ignore', 'pipe', 'pipe'],
        // A process group of its own: a `kill 0` (or any group signal) inside must never reach the test runner.
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (err) => { clearTimeout(timer); reject(err); });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const result = { code: code ?? -1, stdout, stderr };
        if (signal !== null) reject(new Error(`${argv.join(' ')}: killed by ${signal} (bound ${timeoutMs} ms)\n${stderr}`));
        else if (code !== 0 && !opts.allowFailure) reject(new Error(`${argv.join(' ')}: exit ${code}\n${stdout}${stderr}`));
        else resolve(result);
      });
    });
  }

  async systemctl(...args: string[]): Promise<string> {
    return (await this.run(['systemctl', ...args])).stdout;
  }

  /** One property of a unit, e.g. show('wakegate.service', 'NFileDescriptorStore') → '3'. */
  async show(unit: string, property: string): Promise<string> {
    return (await this.systemctl('show', '-P', property, unit)).trim();
  }

  /** The last console output of the machine (for failure messages). */
  console(): string {
    return this.output;
  }

  /**
   * Powers the machine off and waits (bounded) for nspawn to exit; SIGKILLs PID 1, which takes every
   * process of the machine's pid namespace with it, when it does not. Then removes the cgroups and the
   * propagation directory nspawn leaves on the host. Safe to call twice.
   */
  async shutdown(timeoutMs = 30_000): Promise<void> {
    if (!this.exited && this.leader > 0) {
      await this.run(['systemctl', 'poweroff', '--no-block'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
    }
    const bounded = (ms: number) => Promise.race([this.exit, new Promise((resolve) => setTimeout(resolve, ms).unref())]);
    await bounded(timeoutMs);
    if (!this.exited) {
      if (this.leader > 0) process.kill(this.leader, 'SIGKILL');
      this.nspawn.kill('SIGKILL');
      await bounded(10_000);
    }
    if (!this.exited) throw new Error(`machine ${this.name} did not exit: ${this.output}`);
    for (const dir of this.cgroups) {
      // The kernel empties a cgroup a moment after its last process is reaped: a bounded wait, then remove.
      await poll(`cgroup ${dir} empty`, () => (cgroupEmpty(dir) ? true : undefined), 10_000);
      removeCgroupTree(dir);
    }
    const propagate = `/run/systemd/nspawn/propagate/${this.name}`;
    if (existsSync(propagate) && statSync(propagate).isDirectory()) rmSync(propagate, { recursive: true, force: true });
  }

  /** What of this machine is left on the host: processes, cgroups, nspawn's directories. Empty once shut down. */
  leftovers(): string[] {
    const left: string[] = [];
    if (this.leader > 0 && existsSync(`/proc/${this.leader}`)) left.push(`process ${this.leader}`);
    for (const dir of this.cgroups) if (existsSync(dir)) left.push(`cgroup ${dir}`);
    if (existsSync(`/run/systemd/nspawn/propagate/${this.name}`)) left.push(`/run/systemd/nspawn/propagate/${this.name}`);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(this.name));
    left.push(...mounts.map((l) => `mount ${l}`));
    return left;
  }
}

function cgroupEmpty(dir: string): boolean {
  if (!existsSync(dir)) return true;
  if (readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '') return false;
  return readdirSync(dir, { withFileTypes: true }).every((e) => !e.isDirectory() || cgroupEmpty(join(dir, e.name)));
}
