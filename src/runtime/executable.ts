import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** The PATH instances get when the gateway has none: systemd's default for services. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Resolves `command` the way execvp would, but in the parent: the native spawn calls execve with an exact path,
 * so the child never has to search (and a missing program is reported as ENOENT by execve itself).
 * A name with a slash is taken relative to `cwd`; a bare name is searched in `searchPath`, whose relative
 * entries count from `cwd` as they would for the child. Returns the path to try; when nothing executable
 * is found, the first candidate (or the name itself) so that execve reports the precise errno (ENOENT, EACCES).
 */
export function resolveExecutable(command: string, cwd: string, searchPath: string): string {
  if (command.includes('/')) return isAbsolute(command) ? command : resolve(cwd, command);
  const { found, firstExisting } = search(command, searchPath, cwd);
  return found ?? firstExisting ?? command;
}

/** The first executable file named `name` (a path, or a bare name searched in the absolute entries of `searchPath`), or undefined. */
export function findExecutable(name: string, searchPath: string): string | undefined {
  return name.includes('/') ? search(name, '').found : search(name, searchPath).found;
}

/**
 * The one PATH search. `cwd` given: relative PATH entries count from it (the child's view); without it
 * they are skipped, as a lookup made at config load must not depend on the gateway's own cwd.
 */
function search(name: string, searchPath: string, cwd?: string): { found?: string; firstExisting?: string } {
  const candidates = name.includes('/') ? [name] : [];
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    if (isAbsolute(dir)) candidates.push(join(dir, name));
    else if (cwd !== undefined) candidates.push(join(resolve(cwd, dir), name));
  }
  let firstExisting: string | undefined;
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      firstExisting ??= candidate;
      accessSync(candidate, constants.X_OK);
      return { found: candidate, firstExisting };
    } catch {
      // not here; keep searching like execvp does
    }
  }
  return { firstExisting };
}

/** The OCI runtime to use: the configured one, else runc, else crun (runc first: crun fails on hybrid cgroups). */
export function findOciRuntime(configured: string | undefined, searchPath: string): string | undefined {
  if (configured !== undefined) return findExecutable(configured, searchPath);
  return findExecutable('runc', searchPath) ?? findExecutable('crun', searchPath);
}
