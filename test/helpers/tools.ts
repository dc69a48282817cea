import { basename, delimiter } from 'node:path';
import type { Test } from 'tap';
import { DEFAULT_PATH, findExecutable } from '../../src/runtime/executable.js';

/**
 * System tools the tests drive (runc, wrk, nginx, promtool, chromium, …). A missing one is a visible skip
 * that names the Debian package, never a failure and never a silent pass: `npm test` passes on a machine
 * with only Node, and .ci/run, which installs every package, refuses any skip.
 *
 *   if (!needTool(t, 'wrk', 'wrk')) return;                       // inside a test
 *   t.test('containers', { skip: missingTool('runc', 'runc') }, …)  // for a whole subtest
 */

/** command → Debian package, e.g. { wrk: 'wrk', nginx: 'nginx-light' }. */
export type Tools = Readonly<Record<string, string>>;

/**
 * The tool's path: searched in PATH, then in the standard directories, because Debian puts runc and
 * nginx in /usr/sbin, which is not on every user's PATH. A name with a slash is taken as it is.
 */
export function findTool(command: string): string | undefined {
  return findExecutable(command, [process.env.PATH ?? '', DEFAULT_PATH].join(delimiter));
}

/** The skip reason naming every missing tool and the one install line for them, or false when all are there. */
export function missingTools(tools: Tools): string | false {
  const missing = Object.entries(tools).filter(([command]) => findTool(command) === undefined);
  if (missing.length === 0) return false;
  const names = missing.map(([command]) => basename(command)).join(', ');
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
  return `${names} not installed: apt-get install ${packages}`;
}

export function missingTool(command: string, debianPackage: string): string | false {
  return missingTools({ [command]: debianPackage });
}

/** True when every tool is installed; else records one skip line naming the packages, and returns false. */
export function needTools(t: Test, tools: Tools): boolean {
  const reason = missingTools(tools);
  if (reason === false) return true;
  // A skipped subtest is one '# SKIP' line that names the package; tap's summary counts it, and .ci/run refuses it.
  void t.skip(reason, () => {});
  return false;
}

export function needTool(t: Test, command: string, debianPackage: string): boolean {
  return needTools(t, { [command]: debianPackage });
}
