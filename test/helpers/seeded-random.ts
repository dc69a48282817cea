/**
 * Seeded randomness for the test fuzzers: the same seed gives the same sequence on every platform and
 * Node version, so any generated case can be replayed from its seed alone.
 */

/** mulberry32: a tiny 32-bit PRNG, plenty for picking mutations, and the same on every platform. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The seed of case `index` (a document, say) of run `runSeed`: each case can be replayed on its own. */
export function documentSeed(runSeed: number, index: number): number {
  const next = mulberry32((runSeed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
  next();
  return Math.floor(next() * 2 ** 32) >>> 0;
}

/** Pickers over one mulberry32 sequence; each call consumes exactly one number of it. */
export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}
