/**
 * Durations and sizes as written in the config. Both parsers throw `UnitError`, whose message
 * reads "expected <what>" so the validator can append ", got <value>" and a path.
 */

export class UnitError extends Error {
  override readonly name = 'UnitError';
  constructor(readonly expected: string) {
    super(`expected ${expected}`);
  }
}

/**
 * Node.js clamps a setTimeout delay above 2^31-1 ms to 1 ms, so a longer idleTimeout would fire
 * at once instead of never; refuse it here rather than surprise the activator later.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** `500ms`, `30s`, `1.5s`, `2m`, `1h`, `1m30s`, or `0`; returns whole milliseconds. */
export function parseDuration(v: unknown): number {
  // A bare number is refused (except 0) because "30" could mean seconds or milliseconds.
  if (v === 0 || v === '0') return 0;
  if (typeof v !== 'string' || !DURATION_RE.test(v)) throw new UnitError('a duration like 30s');
  let ms = 0;
  for (const [, amount, unit] of v.matchAll(DURATION_PART_RE)) {
    ms += Number(amount) * DURATION_UNIT_MS[unit];
  }
  const rounded = Math.round(ms);
  if (rounded > MAX_DURATION_MS) {
    throw new UnitError(`a duration of at most ${MAX_DURATION_MS}ms (about 24.8 days, the longest Node.js timer)`);
  }
  return rounded;
}

const SIZE_RE = /^(\d+(?:\.\d+)?)(?:([KMGT])(i|iB|B)?|B)?$/;
const SIZE_POWER: Readonly<Record<string, number>> = { K: 1, M: 2, G: 3, T: 4 };

/**
 * A bare non-negative integer is bytes. Strings: `512`, `512B`, `64K` = `64Ki` = `64KiB` (1024-based),
 * `64KB` (1000-based), likewise M, G, T. Returns whole bytes.
 */
export function parseSize(v: unknown): number {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
    throw new UnitError('a size like 128Mi');
  }
  const m = typeof v === 'string' ? SIZE_RE.exec(v) : null;
  if (!m) throw new UnitError('a size like 128Mi');
  const [, amount, prefix, suffix] = m as unknown as [string, string, string | undefined, string | undefined];
  // A fraction of a byte means nothing; fractions only make sense with a multiplier.
  if (prefix === undefined && amount.includes('.')) throw new UnitError('a size like 128Mi');
  const base = suffix === 'B' ? 1000 : 1024;
  const bytes = Math.round(Number(amount) * (prefix ? base ** SIZE_POWER[prefix] : 1));
  if (!Number.isSafeInteger(bytes)) throw new UnitError(`a size below ${Number.MAX_SAFE_INTEGER + 1} bytes`);
  return bytes;
}

const SHARE_RE = /^(\d+(?:\.\d+)?)%$/;

/**
 * A CPU share of one core: `2%`, `0.5%`, `150%` (more than one core), or `0`; returns the fraction (0.02).
 * A bare number is refused (except 0) because `2` could mean 2% or two cores.
 */
export function parseCpuShare(v: unknown): number {
  if (v === 0 || v === '0') return 0;
  const m = typeof v === 'string' ? SHARE_RE.exec(v) : null;
  if (!m) throw new UnitError('a CPU share like 2%');
  return Number(m[1]) / 100;
}

const MODE_RE = /^(?:0o?)?([0-7]{1,4})$/;

/**
 * A file mode as an octal string: `0660`, `660` or `0o660`; returns the number (0o660). Bits beyond 0777
 * (setuid, setgid, sticky) are refused: they mean nothing on a socket, and asking for them is a typo.
 * A YAML number is refused too: an unquoted 0660 is read as decimal 660.
 */
export function parseFileMode(v: unknown): number {
  const m = typeof v === 'string' ? MODE_RE.exec(v) : null;
  if (!m) throw new UnitError(typeof v === 'number' ? 'an octal string like "0660", quoted (an unquoted 0660 is the decimal number 660)' : 'an octal mode like "0660"');
  const mode = parseInt(m[1]!, 8);
  if (mode > 0o777) throw new UnitError('a mode of at most 0777 (setuid, setgid and sticky bits mean nothing on a socket)');
  return mode;
}
