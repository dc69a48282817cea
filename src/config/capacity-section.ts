import { type Issues, field, integer, mapping, render, size } from './checks.js';
import type { CapacitySpec } from './types.js';

/** `capacity: { maxRunning, minAvailable }`: both optional; an absent key sets no limit. */
export function capacitySection(issues: Issues, v: unknown, path: string): CapacitySpec | undefined {
  const m = mapping(issues, v, path, ['maxRunning', 'minAvailable']);
  if (!m) return undefined;
  const before = issues.count;
  const maxRunning = field(issues, m, 'maxRunning', path, (is, x, p) => integer(is, x, p, 1));
  const minAvailableBytes = field(issues, m, 'minAvailable', path, (is, x, p) => {
    const bytes = size(is, x, p);
    return bytes === 0 ? is.add(p, `must be at least 1 byte (leave it out for no limit), got ${render(x)}`) : bytes;
  });
  if (issues.count > before) return undefined;
  return { ...(maxRunning !== undefined && { maxRunning }), ...(minAvailableBytes !== undefined && { minAvailableBytes }) };
}
