import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** The PATH instances get when the gateway has none: systemd's default for services. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Resolves `command` the way execvp would, but in the parent: the native spawn calls execve with an exact path,
 * so the child never has to search (and a missing program is reported as ENOENT by execve itself).
 * A name with a slash is taken relative to `cwd`; a bare name is searched in `searchPath`.
 * Returns the path to try; when nothing executable is found, the first candidate (or the name itself)
 * so that execve reports the precise errno (ENOENT, EACCES).
 */
export function resolveExecutable(command: string, cwd: string, searchPath: string): string {
  if (command.includes('/')) return isAbsolute(command) ? command : resolve(cwd, command);
  let firstExisting: string | undefined;
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(isAbsolute(dir) ? dir : resolve(cwd, dir), command);
    try {
      if (!statSync(candidate).isFile()) continue;
      firstExisting ??= candidate;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep searching like execvp does
    }
  }
  return firstExisting ?? command;
}

/** The first executable file named `name` (a path, or a bare name searched in `searchPath`), or undefined. */
export function findExecutable(name: string, searchPath: string): string | undefined {
  const candidates = name.includes('/') ? [name] : searchPath.split(delimiter).filter(isAbsolute).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The OCI runtime to use: the configured one, else runc, else crun (runc first: crun fails on hybrid cgroups). */
export function findOciRuntime(configured: string | undefined, searchPath: string): string | undefined {
  if (configured !== undefined) return findExecutable(configured, searchPath);
  return findExecutable('runc', searchPath) ?? findExecutable('crun', searchPath);
}
