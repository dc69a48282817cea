import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

// Compiled to dist/test/helpers, but the fixtures are not copied: point at the sources.
export const CONFIG_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url));
/** The file an inline document is validated as coming from: relative paths in it resolve beside it. */
export const INLINE = join(CONFIG_FIXTURES, 'inline.yaml');
/** The smallest valid document: one app, `hello`. */
export const MINIMAL = { listen: { http: ':0' }, apps: { hello: { hosts: ['hello.localhost'], command: ['node'], dir: 'app' } } };

/** Every issue of `doc` as "path: message", or [] when it is valid. */
export function issuesOf(doc: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(doc, INLINE, { env, uid: 0 });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

/** MINIMAL with `fields` set on its app. */
export function withApp(fields: Record<string, unknown>): unknown {
  return { ...MINIMAL, apps: { hello: { ...MINIMAL.apps.hello, ...fields } } };
}
