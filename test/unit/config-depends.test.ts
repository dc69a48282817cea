// dependsOn: names of other apps, each once; `wakegate check` refuses an unknown name and a cycle, with its path.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { CLI } from '../helpers/cli.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url));
const INLINE = join(FIXTURES, 'inline.yaml');

/** Apps named by their dependsOn lists; each one otherwise minimal. */
function appsWith(relation: Record<string, unknown>): Record<string, unknown> {
  const apps: Record<string, unknown> = {};
  for (const [name, dependsOn] of Object.entries(relation)) {
    apps[name] = { hosts: [`${name}.localhost`], command: ['node'], dir: 'app', ...(dependsOn === undefined ? {} : { dependsOn }) };
  }
  return apps;
}

function issuesOf(doc: Record<string, unknown>): string[] {
  try {
    validateConfig({ listen: { http: ':0' }, ...doc }, INLINE, { env: {}, uid: 0 });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

t.test('a valid relation is kept per app, and absent where none is set', async (t) => {
  const cfg = validateConfig({ listen: { http: ':0' }, apps: appsWith({ web: ['db', 'cache'], api: ['db'], db: undefined, cache: [] }) }, INLINE, { env: {}, uid: 0 });
  t.same(cfg.apps.web?.dependsOn, ['db', 'cache']);
  t.same(cfg.apps.api?.dependsOn, ['db']);
  t.notOk(cfg.apps.db && 'dependsOn' in cfg.apps.db, 'absent when not set');
  t.notOk(cfg.apps.cache && 'dependsOn' in cfg.apps.cache, 'an empty list is the same as none');
  t.ok(Object.isFrozen(cfg.apps.web?.dependsOn));
  // A socket-mode app (no hosts) can be a dependency and a dependent.
  const socketMode = { listen: ['tcp:127.0.0.1:0'], command: ['node'], dir: 'app' };
  t.same(issuesOf({ apps: { ...appsWith({ web: ['kv'] }), kv: socketMode, relay: { ...socketMode, listen: ['tcp:127.0.0.1:0'], dependsOn: ['kv'] } } }), []);
});

t.test('unknown names, the app itself, repeats and wrong types are refused with their path', async (t) => {
  t.same(issuesOf({ apps: appsWith({ web: ['db', 'dbx'], db: undefined }) }), ['apps.web.dependsOn[1]: no app is named "dbx"; expected one of: db']);
  t.same(issuesOf({ apps: appsWith({ web: ['web'] }) }), ['apps.web.dependsOn[0]: an app cannot depend on itself (cycle web -> web)']);
  t.same(issuesOf({ apps: appsWith({ web: ['db', 'db'], db: undefined }) }), ['apps.web.dependsOn[1]: "db" is listed twice']);
  t.same(issuesOf({ apps: appsWith({ web: 'db', db: undefined }) }), ['apps.web.dependsOn: expected an array of app names, got "db"']);
  t.same(issuesOf({ apps: appsWith({ web: [7], db: undefined }) }), ['apps.web.dependsOn[0]: expected an app name, got 7']);
  t.same(issuesOf({ defaults: { dependsOn: ['db'] }, apps: appsWith({ db: undefined }) }), ['defaults.dependsOn: only allowed per app, not in defaults']);
  // An app that is invalid for another reason is still a known name: only its own error is reported.
  const broken = { ...appsWith({ web: ['db'] }), db: { hosts: ['db.localhost'], command: ['node'], dir: 'app', memory: 'lots' } };
  t.same(issuesOf({ apps: broken }), ['apps.db.memory: expected a size like 128Mi, got "lots"']);
});

t.test('a cycle is refused once, with its path', async (t) => {
  t.same(issuesOf({ apps: appsWith({ web: ['db'], db: ['web'] }) }), ['apps.web.dependsOn: dependency cycle: web -> db -> web']);
  t.same(issuesOf({ apps: appsWith({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] }) }), ['apps.a.dependsOn: dependency cycle: a -> b -> c -> a']);
  // Two cycles through one app are two errors; a diamond is no cycle.
  t.same(issuesOf({ apps: appsWith({ a: ['b', 'c'], b: ['a'], c: ['a'] }) }), ['apps.a.dependsOn: dependency cycle: a -> b -> a', 'apps.a.dependsOn: dependency cycle: a -> c -> a']);
  t.same(issuesOf({ apps: appsWith({ top: ['left', 'right'], left: ['base'], right: ['base'], base: undefined }) }), []);
});

t.test('wakegate check exits 1 naming the cycle and the unknown name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-depends-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'wakegate.json');
  const apps = appsWith({ web: ['db', 'cache'], db: ['web'] });
  for (const app of Object.values(apps) as Array<Record<string, unknown>>) app.dir = dir;
  writeFileSync(file, JSON.stringify({ listen: { http: '127.0.0.1:0' }, apps }));
  const run = spawnSync(process.execPath, [CLI, 'check', '-c', file], { encoding: 'utf8' });
  t.equal(run.status, 1, run.stderr);
  const out = run.stdout + run.stderr;
  t.match(out, 'apps.web.dependsOn[1]: no app is named "cache"; expected one of: db');
  t.match(out, 'apps.web.dependsOn: dependency cycle: web -> db -> web');
});
