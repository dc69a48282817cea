import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'wg-config-nspawn-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
// A stand-in binary: the lookup at load only checks for an executable file.
const bin = join(dir, 'bin');
mkdirSync(bin);
writeFileSync(join(bin, 'systemd-nspawn'), '#!/bin/sh\n', { mode: 0o755 });
const root = join(dir, 'rootfs');
mkdirSync(root);

const doc = (fields: Record<string, unknown>, top: Record<string, unknown> = {}): unknown => ({
  listen: { http: ':0' },
  ...top,
  apps: { a: { hosts: ['a.localhost'], command: ['x'], dir, ...fields } },
});

function issuesOf(config: unknown, PATH: string): string[] {
  try {
    validateConfig(config, join(dir, 'wakegate.yaml'), { env: { PATH }, uid: 0 });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

t.test('runtime nspawn: systemd-nspawn is found on PATH at load, and its absence names the package', async (t) => {
  const found = validateConfig(doc({ runtime: 'nspawn' }), join(dir, 'c.yaml'), { env: { PATH: bin }, uid: 0 });
  t.equal(found.apps.a!.runtime, 'nspawn');
  t.same(found.nspawn, { binary: join(bin, 'systemd-nspawn') });
  t.same(issuesOf(doc({ runtime: 'nspawn' }), '/nonexistent'), ['apps.a.runtime: needs systemd-nspawn on PATH; install it with: apt-get install systemd-container']);
  t.same(issuesOf(doc({}), '/nonexistent'), [], 'no app on nspawn, no need for it');
});

t.test('nspawn.directory: a root directory, relative to the config file; a bundle stays oci-only', async (t) => {
  const ok = validateConfig(doc({ runtime: 'nspawn' }, { nspawn: { directory: 'rootfs' } }), join(dir, 'c.yaml'), { env: { PATH: bin }, uid: 0 });
  t.equal(ok.nspawn?.directory, root);
  t.same(issuesOf(doc({ runtime: 'nspawn' }, { nspawn: { directory: 'missing' } }), bin), [`nspawn.directory: directory ${join(dir, 'missing')} does not exist`]);
  t.same(issuesOf(doc({ runtime: 'nspawn' }, { nspawn: { image: 'x' } }), bin).length, 1, 'an unknown key is refused');
  const bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(bundle, 'config.json'), '{}');
  t.same(issuesOf({ listen: { http: ':0' }, apps: { a: { hosts: ['a.localhost'], bundle, runtime: 'nspawn' } } }, bin), [
    'apps.a.runtime: a bundle needs the oci runtime, not nspawn',
    'apps.a.bundle: needs an OCI runtime (runc or crun) on PATH or set in oci.runtime; install one with: apt-get install runc',
  ]);
});
