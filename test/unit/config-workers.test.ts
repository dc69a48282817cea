// The `workers` key: an integer from 1 to 256, 1 by default; anything else is refused by `wakegate check`.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { CLI } from '../helpers/cli.js';

const exec = promisify(execFile);
const doc = (workers?: unknown): Record<string, unknown> => ({ listen: { http: '127.0.0.1:8080' }, runtimeDir: '/tmp/wg-x', apps: {}, ...(workers !== undefined && { workers }) });

t.test('default 1, and the integers in range', async (t) => {
  t.equal(validateConfig(doc(), '/tmp/x.yaml').workers, 1);
  t.equal(validateConfig(doc(2), '/tmp/x.yaml').workers, 2);
  t.equal(validateConfig(doc(256), '/tmp/x.yaml').workers, 256);
});

t.test('0, 1.5, "x", 257 and -1 are refused, naming the key', async (t) => {
  for (const bad of [0, 1.5, 'x', 257, -1, true]) {
    const err = t.throws(() => validateConfig(doc(bad), '/tmp/x.yaml')) as ConfigError;
    t.ok(err instanceof ConfigError, `${JSON.stringify(bad)}: a ConfigError`);
    t.match(err.message, `workers: expected an integer from 1 to 256, got ${JSON.stringify(bad)}`);
  }
});

t.test('wakegate check refuses a bad workers value with exit 1 and the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-workers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [text, shown] of [['0', '0'], ['1.5', '1.5'], ['"x"', '"x"']] as const) {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `listen: { http: "127.0.0.1:8080" }\nworkers: ${text}\napps: {}\n`);
    const failed = (await exec(process.execPath, [CLI, 'check', '-c', file]).catch((e: unknown) => e)) as { code: number; stderr: string };
    t.equal(failed.code, 1, `workers: ${text} fails the check`);
    t.match(failed.stderr, `workers: expected an integer from 1 to 256, got ${shown}`);
  }
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'listen: { http: "127.0.0.1:8080" }\nworkers: 4\napps: {}\n');
  t.match((await exec(process.execPath, [CLI, 'check', '-c', good])).stdout, /ok \(0 apps\)/);
});
