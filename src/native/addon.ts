/**
 * Loading the native addon, and turning its -errno results into typed errors: shared by the facade's
 * modules (index.ts, sockets.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyscallError } from '../errors.js';
import type { Binding } from './binding.js';

// First name wins for aliases (EWOULDBLOCK/EAGAIN, SIGIOT/SIGABRT): os.constants lists the usual one first.
const errnoNames = reverse(constants.errno);
export const signalNames = reverse(constants.signals);

function reverse(table: Readonly<Record<string, number>>): ReadonlyMap<number, string> {
  const map = new Map<number, string>();
  for (const [name, value] of Object.entries(table)) if (!map.has(value)) map.set(value, name);
  return map;
}

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `ERRNO_${errno}`;
}

/** `result` is the addon's -errno; the SyscallError carries the positive C errno, as in os.constants.errno. */
export function fail(syscall: string, result: number, detail?: string): never {
  throw new SyscallError(syscall, errnoName(-result), -result, detail);
}

export function check(syscall: string, result: number, detail?: string): number {
  return result < 0 ? fail(syscall, result, detail) : result;
}

let binding: Binding | undefined;

/** Loaded on first use, so that code paths without children (e.g. `wakegate check`) work unbuilt. */
export function addon(): Binding {
  if (binding) return binding;
  const file = path.join(packageRoot(), 'native', 'build', 'Release', 'wakegate.node');
  if (!existsSync(file)) {
    throw new Error(`wakegate's native addon is not built (missing ${file}); run "npm ci" or "npx node-gyp rebuild --directory native"`);
  }
  try {
    binding = createRequire(import.meta.url)(file) as Binding;
  } catch (cause) {
    throw new Error(`failed to load wakegate's native addon ${file}; rebuild it with "npm ci"`, { cause });
  }
  return binding;
}

/** The compiled file sits at dist/src/native/ and the source at src/native/: walk up instead of counting. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'wakegate') {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find wakegate's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
