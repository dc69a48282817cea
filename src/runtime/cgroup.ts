import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

const ROOT = '/sys/fs/cgroup';

/**
 * Where the cgroups of wakegate's containers live, on cgroup v2 (unified at /sys/fs/cgroup) or v1
 * (one hierarchy per controller, as on hybrid hosts where cgroup2 sits at /sys/fs/cgroup/unified
 * without controllers). Containers get the absolute cgroupsPath `/<parent>/<container id>`, where the
 * parent is `wakegate/<scope>`: gateways with different runtimeDirs never see each other's leftovers.
 */
export class Cgroups {
  readonly version: 1 | 2;
  readonly parent: string;

  constructor(runtimeDir: string) {
    this.parent = `wakegate/${createHash('sha256').update(runtimeDir).digest('hex').slice(0, 12)}`;
    this.version = existsSync(join(ROOT, 'cgroup.controllers')) ? 2 : 1;
  }

  /** The value for the OCI spec's linux.cgroupsPath. */
  pathFor(id: string): string {
    return `/${this.parent}/${id}`;
  }

  /** The directory holding the container's memory accounting. */
  memoryDir(id: string): string {
    return this.version === 2 ? join(ROOT, this.parent, id) : join(ROOT, 'memory', this.parent, id);
  }

  /** Current memory use in bytes (page cache included, as the limit counts it); null once gone. */
  memoryBytes(id: string): number | null {
    const file = this.version === 2 ? 'memory.current' : 'memory.usage_in_bytes';
    try {
      return Number(readFileSync(join(this.memoryDir(id), file), 'utf8').trim());
    } catch {
      return null;
    }
  }

  /** How many times the kernel OOM killer struck inside the container; null when unreadable. */
  oomKills(id: string): number | null {
    const file = this.version === 2 ? 'memory.events' : 'memory.oom_control';
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(join(this.memoryDir(id), file), 'utf8'));
      return match ? Number(match[1]) : null;
    } catch {
      return null;
    }
  }

  /** Every directory, across hierarchies, that a container with this id could have. */
  dirsOf(id: string): string[] {
    return this.parentDirs().map((dir) => join(dir, id));
  }

  /** The `/<parent>` directory in each mounted hierarchy. */
  parentDirs(): string[] {
    if (this.version === 2) return [join(ROOT, this.parent)];
    let controllers: string[] = [];
    try {
      controllers = readdirSync(ROOT).filter((name) => !name.includes(','));
    } catch {
      return [];
    }
    return controllers.map((name) => join(ROOT, name, this.parent)).filter((dir) => existsSync(dir));
  }

  /** Container ids with a cgroup directory left in any hierarchy. */
  leftovers(): string[] {
    const ids = new Set<string>();
    for (const dir of this.parentDirs()) {
      try {
        for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) ids.add(entry.name);
      } catch {
        // the hierarchy vanished meanwhile
      }
    }
    return [...ids];
  }

  /** Pids still in the container's cgroups (any hierarchy). */
  pidsOf(id: string): number[] {
    const pids = new Set<number>();
    for (const dir of this.dirsOf(id)) {
      try {
        for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
      } catch {
        // not in this hierarchy
      }
    }
    return [...pids];
  }

  /** Removes this gateway's (empty) parent directories, at shutdown; one still in use stays. */
  removeScope(): void {
    for (const dir of this.parentDirs()) {
      try {
        rmdirSync(dir);
      } catch {
        // ENOTEMPTY/EBUSY: a container is still there, and the next start-up cleans it
      }
    }
  }

  /** Removes the container's (empty) cgroup directories; returns those that could not be removed. */
  remove(id: string): string[] {
    const failed: string[] = [];
    for (const dir of this.dirsOf(id)) {
      try {
        rmdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(dir);
      }
    }
    return failed;
  }
}
