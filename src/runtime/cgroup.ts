import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { cgroupBase, GATEWAY_LEAF } from './cgroup-base.js';
import { cgroupTree } from './cgroup-tree.js';

const ROOT = '/sys/fs/cgroup';

/** v1 hierarchies a process instance joins on a host without cgroup2: freezer to stop it atomically, memory and cpuacct for stats, pids to list it. */
const PROCESS_HIERARCHIES = ['freezer', 'memory', 'cpuacct', 'pids'] as const;

/** What the native spawn needs to put a child in its instance cgroup (see Cgroups.create). */
export interface InstanceCgroup {
  /** The cgroup2 directory, for clone3's CLONE_INTO_CGROUP. */
  readonly dirFd?: number;
  /** Writable `cgroup.procs` files the child joins before exec: the fallback, and the only way without cgroup2. */
  readonly procs: readonly number[];
}

export interface CgroupHost {
  /** Where the hierarchies are mounted. */
  readonly root?: string;
  /** The text of /proc/self/cgroup. */
  readonly selfCgroup?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The cgroups of wakegate's instances, on cgroup v2 (unified at /sys/fs/cgroup) or v1 (one hierarchy per
 * controller, as on hybrid hosts where cgroup2 sits at /sys/fs/cgroup/unified without controllers). Every
 * instance, container or process, has the cgroup `<base>/wakegate/<scope>/<instance id>` (runc gets it as
 * the absolute cgroupsPath): gateways with different runtimeDirs never see each other's leftovers, and the
 * base is the service's own cgroup under systemd (see cgroup-base.ts). On a hybrid host, process instances
 * use only the unified hierarchy: a child cloned into a cgroup2 cgroup costs no migration, while every v1
 * cgroup.procs write waits for an RCU grace period (10-20 ms on a cold start). There they have no memory
 * controller, which the process runtime does without: it sets no limits, and sums its pids' RSS instead.
 */
export class Cgroups {
  readonly version: 1 | 2;
  readonly parent: string;
  readonly delegated: boolean;
  private readonly root: string;
  /** Hybrid hosts: the cgroup2 mount without controllers, and the scope's path in it. */
  private readonly unified?: { readonly root: string; readonly parent: string };
  /** Instances whose cgroup exists or is about to (runc creates it): the scope is removed only without any. */
  private readonly live = new Set<string>();

  constructor(runtimeDir: string, host: CgroupHost = {}) {
    this.root = host.root ?? ROOT;
    this.version = existsSync(join(this.root, 'cgroup.controllers')) ? 2 : 1;
    const base = cgroupBase(host.selfCgroup ?? readSelf(), this.version, host.env ?? process.env);
    this.delegated = base.delegated;
    const scope = `wakegate/${createHash('sha256').update(runtimeDir).digest('hex').slice(0, 12)}`;
    this.parent = base.path ? `${base.path}/${scope}` : scope;
    const unified = join(this.root, 'unified');
    if (this.version === 1 && existsSync(join(unified, 'cgroup.controllers'))) {
      const v2Base = cgroupBase(host.selfCgroup ?? readSelf(), 2, host.env ?? process.env).path;
      this.unified = { root: unified, parent: v2Base ? `${v2Base}/${scope}` : scope };
    }
  }

  /**
   * v2, delegated only: the gateway leaves the service's cgroup for a leaf of its own, because v2 refuses
   * controllers in a cgroup's subtree while processes sit in it; then controllers are enabled below.
   */
  prepare(): void {
    if (this.version !== 2 || !this.delegated) return;
    const base = this.parent.split('/').slice(0, -2).join('/');
    mkdirAll(this.root, `${base}/${GATEWAY_LEAF}`);
    writeFileSync(join(this.root, base, GATEWAY_LEAF, 'cgroup.procs'), String(process.pid));
    this.enableControllers();
  }

  /**
   * Enables memory, pids and cpu from the top of wakegate's tree (the service's cgroup, or `/wakegate`: the
   * root's own are the host's business) down to the scope, so that instance cgroups get them. Best effort:
   * a controller that cannot be enabled costs stats or limits, never a start.
   */
  private enableControllers(): void {
    mkdirAll(this.root, this.parent);
    const base = this.parent.split('/').slice(0, -2).join('/');
    const levels = this.delegated ? [base, `${base}/wakegate`, this.parent] : ['wakegate', this.parent];
    for (const dir of levels) {
      for (const controller of ['memory', 'pids', 'cpu']) tryWrite(join(this.root, dir, 'cgroup.subtree_control'), `+${controller}`);
    }
  }

  /** Reserves the instance's place, which keeps the scope until `release(id)`; returns the OCI spec's linux.cgroupsPath. */
  claim(id: string): string {
    this.live.add(id);
    return `/${this.parent}/${id}`;
  }

  /**
   * Forgets the instance and removes its (empty) cgroup directories, then the scope when no other instance
   * has or is about to get a cgroup there: runc creates its directories in another process, and an rmdir of
   * the scope between its mkdirs would fail that start. Returns the directories that could not be removed.
   */
  release(id: string): string[] {
    this.live.delete(id);
    const stuck = this.remove(id);
    if (this.live.size === 0) this.removeScope();
    return stuck;
  }

  /**
   * Creates a process instance's cgroups and opens what the native spawn needs to put the child there
   * before it runs anything: the cgroup2 directory where there is one (pure v2, or hybrid's unified), and
   * `cgroup.procs` for writing. The caller closes the fds. Throws when nothing could be made (not root,
   * no cgroupfs), having removed what it made.
   */
  create(id: string): InstanceCgroup {
    const v2Dir = this.v2Dir(id);
    const dirs = v2Dir ? [v2Dir] : this.processHierarchies().map((h) => join(this.root, h, this.parent, id));
    if (dirs.length === 0) throw new Error(`no cgroup hierarchy to use under ${this.root}`);
    this.live.add(id);
    const fds: number[] = [];
    try {
      if (this.version === 2) this.enableControllers();
      for (const dir of dirs) {
        mkdirAll('/', dir.slice(1));
        fds.push(openSync(join(dir, 'cgroup.procs'), 'w'));
      }
      const dirFd = v2Dir ? openSync(v2Dir, constants.O_RDONLY | constants.O_DIRECTORY) : undefined;
      return { dirFd, procs: fds };
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      this.release(id);
      throw err;
    }
  }

  /** The instance's cgroup2 directory (pure v2, or hybrid's unified hierarchy), if the host has cgroup2. */
  private v2Dir(id: string): string | undefined {
    if (this.version === 2) return join(this.root, this.parent, id);
    return this.unified && join(this.unified.root, this.unified.parent, id);
  }

  private processHierarchies(): string[] {
    return PROCESS_HIERARCHIES.filter((h) => existsSync(join(this.root, h, 'cgroup.procs')));
  }

  /** The directory holding the instance's memory accounting. */
  memoryDir(id: string): string {
    return this.version === 2 ? join(this.root, this.parent, id) : join(this.root, 'memory', this.parent, id);
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

  /**
   * CPU time used by the instance's tasks, in ns (v1 cpuacct.usage; v2 cpu.stat usage_usec, which every
   * cgroup2 cgroup has, controllers or not: hybrid's process instances); null once gone.
   */
  cpuNs(id: string): number | null {
    try {
      if (this.version === 1) return Number(readFileSync(join(this.root, 'cpuacct', this.parent, id, 'cpuacct.usage'), 'utf8').trim());
    } catch {
      // a process instance of a hybrid host has no v1 cgroup: its unified one follows
    }
    const v2Dir = this.v2Dir(id);
    try {
      const usec = v2Dir && /^usage_usec (\d+)$/m.exec(readFileSync(join(v2Dir, 'cpu.stat'), 'utf8'))?.[1];
      return usec ? Number(usec) * 1000 : null;
    } catch {
      return null;
    }
  }

  /** How many times the kernel OOM killer struck inside the instance; null when unreadable. */
  oomKills(id: string): number | null {
    const file = this.version === 2 ? 'memory.events' : 'memory.oom_control';
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(join(this.memoryDir(id), file), 'utf8'));
      return match ? Number(match[1]) : null;
    } catch {
      return null;
    }
  }

  /** Every directory, across hierarchies, that an instance with this id could have. */
  dirsOf(id: string): string[] {
    return this.parentDirs().map((dir) => join(dir, id));
  }

  /** The `<parent>` directory in each mounted hierarchy. */
  parentDirs(): string[] {
    if (this.version === 2) return [join(this.root, this.parent)];
    let hierarchies: string[] = [];
    try {
      hierarchies = readdirSync(this.root).filter((name) => !name.includes(','));
    } catch {
      return [];
    }
    const dirs = new Set(hierarchies.map((name) => join(this.root, name, this.parent)));
    if (this.unified) dirs.add(join(this.unified.root, this.unified.parent));
    return [...dirs].filter((dir) => existsSync(dir));
  }

  /** Instance ids with a cgroup directory left in any hierarchy. */
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

  /** Pids still in the instance's cgroups (any hierarchy, sub-cgroups included). */
  pidsOf(id: string): number[] {
    const pids = new Set<number>();
    for (const dir of this.dirsOf(id).flatMap(cgroupTree)) {
      try {
        for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
      } catch {
        // not in this hierarchy
      }
    }
    return [...pids];
  }

  /**
   * The path of a control file of the instance (cgroup2's `cgroup.kill`, `cgroup.freeze`, also hybrid's
   * unified ones; v1's `freezer.state`), if it exists.
   */
  controlFile(id: string, file: string): string | undefined {
    const dir = file.startsWith('cgroup.') ? this.v2Dir(id) : this.version === 1 && file.startsWith('freezer.') ? join(this.root, 'freezer', this.parent, id) : undefined;
    const path = dir && join(dir, file);
    return path && existsSync(path) ? path : undefined;
  }

  /** Removes this gateway's (empty) parent directories; one still in use stays. */
  removeScope(): void {
    for (const dir of this.parentDirs()) {
      try {
        rmdirSync(dir);
      } catch {
        // ENOTEMPTY/EBUSY: an instance is still there, and its exit or the next start-up cleans it
      }
    }
  }

  /** Removes the instance's (empty) cgroup directories, sub-cgroups first; returns those that could not be removed. */
  remove(id: string): string[] {
    const failed: string[] = [];
    for (const dir of this.dirsOf(id).flatMap(cgroupTree)) {
      try {
        rmdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(dir);
      }
    }
    return failed;
  }
}

function readSelf(): string {
  try {
    return readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return '';
  }
}

/**
 * `mkdir -p` below `from` for a relative `path`, one level at a time. Synchronous on purpose: an instance's
 * exit removes the scope with rmdir when it is empty, and two sync calls cannot interleave on the loop.
 */
function mkdirAll(from: string, path: string): void {
  let dir = from;
  for (const part of path.split('/').filter(Boolean)) {
    dir = join(dir, part);
    try {
      mkdirSync(dir, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

function tryWrite(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch {
    // the controller is not available to this tree
  }
}
