/**
 * A document of the config fuzzer, generated from one 32-bit seed: a valid seed config, then structural
 * mutations on the parsed object and textual mutations on its YAML or JSON text.
 */
import { stringify } from 'yaml';
import { Rng } from '../seeded-random.js';
import type { Generation } from './generation.js';
import { clone, type JsonObject } from './json-value.js';
import { seedObjects, seedTexts } from './seed-configs.js';
import { mutateStructure } from './structural-mutations.js';
import { mutateText } from './textual-mutations.js';

export interface FuzzDocument {
  text: string;
  /** What was done to the seed, for failure messages. */
  ops: string[];
  env: NodeJS.ProcessEnv;
}

const SEED_OBJECTS = seedObjects();
const SEED_TEXTS = seedTexts();
const MAX_TEXT = 200_000;

/** The valid seeds as texts, so the test can check that they load. */
export function seedDocuments(): string[] {
  return [...SEED_OBJECTS.map((o) => stringify(o)), ...SEED_OBJECTS.map((o) => JSON.stringify(o)), ...SEED_TEXTS.slice(0, -1)];
}

export function generateDocument(seed: number, path: string): FuzzDocument {
  const r = new Rng(seed);
  const g: Generation = { r, ops: [], longStrings: 0, depth: 0 };
  let text: string;
  let textOps: number;
  if (r.chance(0.15)) {
    const i = r.int(SEED_TEXTS.length);
    g.ops.push(`text seed ${i}`);
    text = SEED_TEXTS[i]!;
    textOps = r.chance(0.1) ? 0 : r.range(1, 4);
  } else {
    const i = r.int(SEED_OBJECTS.length);
    g.ops.push(`object seed ${i}`);
    const doc = clone(SEED_OBJECTS[i]!) as JsonObject;
    for (let n = r.pick([0, 1, 1, 1, 2, 2, 3, 4, 6]); n > 0; n--) mutateStructure(g, doc);
    text = serialize(g, doc);
    textOps = r.chance(0.35) ? r.range(1, 3) : 0;
  }
  for (; textOps > 0; textOps--) {
    const next = mutateText(g, text);
    if (next.length <= MAX_TEXT) text = next;
  }
  if (text.length > MAX_TEXT) {
    g.ops.push(`truncated to ${MAX_TEXT}`);
    text = text.slice(0, MAX_TEXT);
  }
  const env: NodeJS.ProcessEnv = { PATH: path, XDG_RUNTIME_DIR: '/run/user/1000' };
  if (r.chance(0.03)) env.WAKEGATE_LOG_LEVEL = r.pick(['', 'debug', 'LOUD', '\0']);
  return { text, ops: g.ops, env };
}

function serialize(g: Generation, doc: JsonObject): string {
  // Very deep documents go out as JSON: yaml's stringifier recurses, and takes seconds for them.
  const style = g.depth > 100 ? 0 : g.r.int(6);
  g.ops.push(['json', 'pretty json', 'yaml', 'flow yaml', 'quoted yaml', 'yaml 1.1'][style]!);
  if (style === 0) return JSON.stringify(doc);
  if (style === 1) return JSON.stringify(doc, null, 2);
  if (style === 2) return stringify(doc);
  if (style === 3) return stringify(doc, { collectionStyle: 'flow' });
  if (style === 4) return stringify(doc, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
  return `%YAML 1.1\n---\n${stringify(doc, { version: '1.1' })}`;
}

/** A document, shortened for a failure message (which tap prints as YAML, escaping what needs it). */
export function excerpt(doc: FuzzDocument, max = 600): { ops: string; document: string } {
  const text = doc.text.length > max ? `${doc.text.slice(0, max)}... (${doc.text.length} characters in all)` : doc.text;
  return { ops: doc.ops.join('; ').slice(0, 600), document: text };
}
