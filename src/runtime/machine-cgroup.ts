import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupTree } from './cgroup-tree.js';
import type { InstanceStats } from './runtime.js';

const ROOT = '/sys/fs/cgroup';
/** nspawn moves its container's PID 1 into this sub-cgroup of the machine's scope (unified hierarchy). */
const PAYLOAD = /\/payload$/;

/**
 * The cgroup of a registered machine's scope, found from its leader's /proc/<pid>/cgroup: on cgroup2 (or
 * a hybrid host's unified hierarchy, without controllers) the `0::` line, on v1 the memory and cpuacct
 * hierarchies'. Read for the instance's stats, since the container is not in the instance cgroup. What
 * cannot be read is null, never an error: the machine may end at any moment.
 */
export class MachineCgroup {
  private constructor(
    /** The scope's cgroup2 directory, if the host has cgroup2. */
    private readonly v2: string | undefined,
    private readonly memoryV1: string | undefined,
    private readonly cpuacctV1: string | undefined,
  ) {}

  /** From the leader's cgroup membership; undefined once the leader is gone. */
  static of(leader: number, root = ROOT): MachineCgroup | undefined {
    let text: string;
    try {
      text = readFileSync(`/proc/${leader}/cgroup`, 'utf8');
    } catch {
      return undefined;
    }
    const paths = new Map<string, string>();
    for (const line of text.split('\n')) {
      const match = /^\d+:([^:]*):(.*)$/.exec(line);
      if (match) paths.set(match[1]!, match[2]!.replace(PAYLOAD, ''));
    }
    const unified = paths.get('');
    const pure = existsSync(join(root, 'cgroup.controllers'));
    const v2 = unified === undefined ? undefined : join(root, pure ? '' : 'unified', unified);
    const v1 = (controller: string): string | undefined => {
      const key = [...paths.keys()].find((k) => k.split(',').includes(controller));
      return key === undefined ? undefined : join(root, key, paths.get(key)!);
    };
    return new MachineCgroup(v2, v1('memory'), v1('cpuacct'));
  }

  /** The memory controller's count where there is one, else the RSS of the scope's processes (through `rss`). */
  stats(rss: (pid: number) => number | null): InstanceStats {
    const memory = this.read(this.v2 && join(this.v2, 'memory.current')) ?? this.read(this.memoryV1 && join(this.memoryV1, 'memory.usage_in_bytes'));
    const usec = this.v2 && /^usage_usec (\d+)$/m.exec(this.text(join(this.v2, 'cpu.stat')) ?? '')?.[1];
    const cpuNs = usec ? Number(usec) * 1000 : this.read(this.cpuacctV1 && join(this.cpuacctV1, 'cpuacct.usage'));
    if (memory !== null) return { memoryBytes: memory, cpuNs };
    const sizes = this.pids().map(rss).filter((n): n is number => n !== null);
    return { memoryBytes: sizes.length === 0 ? null : sizes.reduce((a, b) => a + b, 0), cpuNs };
  }

  /** How many times the OOM killer struck in the scope (cgroup2 memory.events); null when unreadable. */
  oomKills(): number | null {
    const match = /^oom_kill (\d+)$/m.exec((this.v2 && this.text(join(this.v2, 'memory.events'))) ?? '');
    return match ? Number(match[1]) : null;
  }

  private pids(): number[] {
    if (this.v2 === undefined) return [];
    return cgroupTree(this.v2).flatMap((dir) => (this.text(join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number));
  }

  private read(file: string | undefined): number | null {
    const text = file && this.text(file);
    return text ? Number(text.trim()) : null;
  }

  private text(file: string): string | undefined {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  }
}
