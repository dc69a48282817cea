/**
 * `dependsOn`: the apps an app needs running while it runs. One app's list is checked where the app is;
 * names and cycles only once every app is known, so that an unknown name or a cycle names its path.
 */
import { type Issues, indexPath, keyPath, list, render, string } from './checks.js';

/** `dependsOn: [db, cache]`: names of other apps, each once. */
export function dependsOnList(issues: Issues, v: unknown, path: string): string[] | undefined {
  const seen = new Set<string>();
  return list(issues, v, path, 'an array of app names', (is, x, p) => {
    const name = string(is, x, p, 'an app name');
    if (name === undefined) return undefined;
    if (seen.has(name)) return is.add(p, `${render(name)} is listed twice`);
    seen.add(name);
    return name;
  });
}

/**
 * Every name in a `dependsOn` must be an app of `names` (the config's, valid or not, so that a broken
 * app is not also reported unknown), and the relation must have no cycle: one would hold its apps up
 * forever, each waiting for the other to stop. Each cycle is reported once, at the app it was found from.
 */
export function checkDependencies(issues: Issues, path: string, names: readonly string[], dependsOn: ReadonlyMap<string, readonly string[]>): void {
  const known = new Set(names);
  for (const [app, deps] of dependsOn) {
    deps.forEach((dep, i) => {
      if (dep === app) issues.add(indexPath(keyPath(keyPath(path, app), 'dependsOn'), i), `an app cannot depend on itself (cycle ${app} -> ${app})`);
      else if (!known.has(dep)) issues.add(indexPath(keyPath(keyPath(path, app), 'dependsOn'), i), `no app is named ${render(dep)}; expected one of: ${names.filter((n) => n !== app).join(', ') || '(no other app)'}`);
    });
  }
  const done = new Set<string>();
  const reported = new Set<string>();
  const visit = (app: string, stack: string[]): void => {
    if (done.has(app)) return;
    const at = stack.indexOf(app);
    if (at >= 0) {
      const cycle = [...stack.slice(at), app];
      // The same cycle is met from each of its apps: report it once, by its members.
      const key = [...new Set(cycle)].sort().join(' ');
      if (!reported.has(key)) {
        reported.add(key);
        issues.add(keyPath(keyPath(path, cycle[0]!), 'dependsOn'), `dependency cycle: ${cycle.join(' -> ')}`);
      }
      return;
    }
    stack.push(app);
    for (const dep of dependsOn.get(app) ?? []) if (dep !== app && known.has(dep)) visit(dep, stack);
    stack.pop();
    done.add(app);
  };
  for (const app of dependsOn.keys()) visit(app, []);
}
