import { createHash } from 'node:crypto';
import type { AppSpec } from '../config/types.js';

/**
 * A short digest of everything an instance was started with, independent of key order: a gateway that
 * finds an instance a previous one left running adopts it only if its own spec for the app is the same.
 */
export function specDigest(spec: AppSpec): string {
  return createHash('sha256').update(canonical(spec)).digest('hex').slice(0, 12);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
