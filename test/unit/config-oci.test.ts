import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'wg-config-oci-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const bundle = join(dir, 'bundle');
mkdirSync(bundle);
writeFileSync(join(bundle, 'config.json'), '{}');
const notBundle = join(dir, 'plain');
mkdirSync(notBundle);
// A fake runtime binary: lookup only checks that it is an executable file.
const bin = join(dir, 'bin');
mkdirSync(bin);
writeFileSync(join(bin, 'runc'), '#!/bin/sh\n', { mode: 0o755 });

const app = (fields: Record<string, unknown>): unknown => ({
  listen: { http: ':0' },
  apps: { a: { hosts: ['a.localhost'], ...fields } },
});

function issuesOf(doc: unknown, PATH: string): string[] {
  try {
    validateConfig(doc, join(dir, 'wakegate.yaml'), { env: { PATH }, uid: 0 });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

t.test('the OCI runtime is looked up at load: configured, else runc, else crun on PATH', async (t) => {
  const found = validateConfig(app({ command: ['x'], dir }), join(dir, 'c.yaml'), { env: { PATH: bin }, uid: 0 });
  t.same(found.oci, { runtime: join(bin, 'runc') });
  const none = validateConfig(app({ command: ['x'], dir }), join(dir, 'c.yaml'), { env: { PATH: '/nonexistent' }, uid: 0 });
  t.same(none.oci, {}, 'none found is fine while no app needs one');
  const configured = validateConfig({ ...(app({ command: ['x'], dir }) as object), oci: { runtime: join(bin, 'runc') } }, join(dir, 'c.yaml'), { env: {}, uid: 0 });
  t.equal(configured.oci.runtime, join(bin, 'runc'));
  const relative = validateConfig({ ...(app({ command: ['x'], dir }) as object), oci: { runtime: 'bin/runc' } }, join(dir, 'c.yaml'), { env: {}, uid: 0 });
  t.equal(relative.oci.runtime, join(bin, 'runc'), 'a relative path is relative to the config file');
});

t.test('missing runtimes are errors that name the fix', async (t) => {
  t.same(issuesOf(app({ command: ['x'], dir, runtime: 'oci' }), '/nonexistent'), [
    'apps.a.runtime: needs an OCI runtime (runc or crun) on PATH or set in oci.runtime; install one with: apt-get install runc',
  ]);
  t.same(issuesOf({ ...(app({ command: ['x'], dir }) as object), oci: { runtime: 'kata' } }, bin), [
    'oci.runtime: no executable "kata" found on PATH; install one with: apt-get install runc',
  ]);
  t.same(issuesOf(app({ bundle }), '/nonexistent'), [
    'apps.a.bundle: needs an OCI runtime (runc or crun) on PATH or set in oci.runtime; install one with: apt-get install runc',
  ]);
});

t.test('a bundle replaces command and dir, and needs the oci runtime', async (t) => {
  const ok = validateConfig(app({ bundle: 'bundle' }), join(dir, 'c.yaml'), { env: { PATH: bin }, uid: 0 });
  t.equal(ok.apps.a!.bundle, bundle, 'resolved against the config file');
  t.same(ok.apps.a!.command, []);
  t.same(issuesOf(app({ bundle, command: ['x'], dir }), bin), [
    "apps.a.command: not used with bundle: the bundle's config.json says what to run",
    "apps.a.dir: not used with bundle: the bundle's config.json says what to run",
  ]);
  t.same(issuesOf(app({ bundle, runtime: 'process' }), bin), ['apps.a.runtime: a bundle needs the oci runtime, not process']);
  t.same(issuesOf(app({ bundle: notBundle }), bin), [`apps.a.bundle: ${notBundle} has no config.json, so it is not an OCI bundle`]);
  t.same(issuesOf(app({ dir }), bin), ['apps.a.command: required; expected a non-empty array of strings'], 'without a bundle, command is required');
});
