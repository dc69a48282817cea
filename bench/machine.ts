/** What the numbers were measured on: without it, results from two hosts cannot be compared. */
import { spawnSync } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  /** CPUs this process may run on (affinity-aware), which bounds any parallel measurement. */
  readonly nproc: number;
  readonly cpuModel: string;
  readonly totalMemoryBytes: number;
  readonly kernel: string;
  readonly node: string;
  /** Where the scenarios put runtimeDir (TMPDIR moves it): binding an app socket on a disk is slower than on tmpfs. */
  readonly tmpdir: { readonly path: string; readonly fs: string };
  /** First line of each tool's version output, or 'absent'. */
  readonly tools: { readonly runc: string; readonly nginx: string; readonly wrk: string };
}

export function recordMachine(): MachineInfo {
  return {
    nproc: os.availableParallelism(),
    cpuModel: cpuModel(),
    totalMemoryBytes: os.totalmem(),
    kernel: os.release(),
    node: process.version,
    tmpdir: { path: os.tmpdir(), fs: fsType(os.tmpdir()) },
    tools: {
      runc: toolVersion('runc', ['--version']),
      // nginx prints its version on stderr; wrk prints it with the usage text and exits 1.
      nginx: toolVersion('nginx', ['-v']),
      wrk: toolVersion('wrk', ['-v']),
    },
  };
}

function cpuModel(): string {
  try {
    const line = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (line) return line[1]!.trim();
  } catch {
    // not Linux, or /proc hidden: fall back to what libuv reports
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

// statfs(2) f_type magic numbers for the filesystems a runtimeDir is likely to be on.
const FS_TYPES: Readonly<Record<number, string>> = { 0x01021994: 'tmpfs', 0xef53: 'ext4', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' };

function fsType(path: string): string {
  try {
    const type = statfsSync(path).type;
    return FS_TYPES[type] ?? `0x${type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

/** The exit status is ignored on purpose: several tools exit non-zero after printing their version. */
function toolVersion(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return 'absent';
  const first = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.trim() !== '');
  return first?.trim() ?? 'unknown';
}
