import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` with mode 0700 for what it creates. Not `mkdirSync({ recursive: true })`: on Node 20 that
 * spins forever when a parent refuses creation without saying ENOENT (seen with a path under /proc), and
 * a runtimeDir that cannot be created must fail start-up at once, naming the path.
 */
export function makeDirs(path: string): void {
  const parent = dirname(path);
  if (parent !== path && !existsSync(parent)) makeDirs(parent);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
