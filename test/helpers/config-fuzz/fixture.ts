import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `root/app` (an app dir), `root/bundle` (an OCI bundle), `root/plain` (a dir without config.json),
 * `root/file.txt` (not a dir) and `root/bin/runc` (a fake OCI runtime; PATH is `root/bin`).
 * Seed configs only use paths relative to `root/wakegate.yaml`, so a document's text never depends on `root`.
 */
export function makeFixture(root: string): { file: string; path: string } {
  for (const d of ['app', 'bundle', 'plain', 'bin']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'app', 'server.js'), '');
  writeFileSync(join(root, 'bundle', 'config.json'), '{}');
  writeFileSync(join(root, 'file.txt'), 'not a directory');
  writeFileSync(join(root, 'bin', 'runc'), '#!/bin/sh\n');
  chmodSync(join(root, 'bin', 'runc'), 0o755);
  return { file: join(root, 'wakegate.yaml'), path: join(root, 'bin') };
}
