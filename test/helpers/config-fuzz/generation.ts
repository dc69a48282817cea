import type { Rng } from '../seeded-random.js';

/** The state of making one document: its random sequence, what was done so far, and budgets. */
export interface Generation {
  readonly r: Rng;
  readonly ops: string[];
  /** 100k-character strings and deep nesting are capped per document, to keep documents quick to parse. */
  longStrings: number;
  /** The deepest nesting made; yaml's stringifier is slow (and recursive) on very deep documents. */
  depth: number;
}
