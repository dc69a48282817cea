import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `dir` and every cgroup below it, deepest first (the order rmdir needs). A runtime may make sub-cgroups
 * of its own inside an instance's cgroup: systemd-nspawn moves itself to `supervisor` and its container to
 * `payload`. A directory that vanishes meanwhile is simply left out.
 */
export function cgroupTree(dir: string): string[] {
  let children: string[] = [];
  try {
    children = readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(dir, entry.name));
  } catch {
    return [];
  }
  return [...children.flatMap(cgroupTree), dir];
}
