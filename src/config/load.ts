/** Reading and parsing the config file. The only way to obtain a GatewayConfig. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type CST, Composer, type Document, isScalar, LineCounter, Parser, visit } from 'yaml';
import { ConfigError } from '../errors.js';
import { duplicateKey } from './json-keys.js';
import { type ValidateOptions, validateConfig } from './schema.js';
import type { GatewayConfig } from './types.js';

/** Reads, parses and validates `file`; rejects with ConfigError only. */
export async function loadConfig(file: string, opts?: ValidateOptions): Promise<GatewayConfig> {
  const abs = resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(abs, [{ path: '', message: `cannot read ${abs}: ${code}` }], { cause: err });
  }
  return parseConfig(text, abs, opts);
}

/**
 * Parses YAML (and so JSON, a subset of it) and validates. `file` names the source in messages and
 * is the base for relative paths in the config.
 */
export function parseConfig(text: string, file: string, opts?: ValidateOptions): GatewayConfig {
  const abs = resolve(file);
  const json = parseJson(text, abs);
  return validateConfig(json !== undefined ? json.value : parseYaml(text, abs), abs, opts);
}

/** At most this many YAML syntax errors are listed: after the first few, the rest are mostly echoes of them. */
const MAX_SYNTAX_ERRORS = 10;

function parseYaml(text: string, file: string): unknown {
  const lines = new LineCounter();
  const at = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  try {
    // One CST serves the depth check and the composer: parsing is most of the cost of a large file.
    const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
    if (nestingDepth(tokens) > MAX_DEPTH) throw new ConfigError(file, [{ path: '', message: `YAML nesting is deeper than ${MAX_DEPTH} levels` }]);
    const docs = compose(tokens, text.length);
    const doc = docs[0]!;
    const errors = [...doc.errors.map((e) => ({ pos: e.pos[0], message: e.message })), ...duplicateKeys(doc)]
      .sort((a, b) => a.pos - b.pos)
      .map((e) => `YAML syntax error at ${at(e.pos)}: ${e.message}`);
    // parseDocument with logLevel silent drops this error, and so would silently use the first document only.
    if (docs.length > 1) errors.push(`a second YAML document starts at ${at(docs[1]!.range[0])}; the config must be one document`);
    if (errors.length > MAX_SYNTAX_ERRORS) errors.splice(MAX_SYNTAX_ERRORS, Infinity, `and ${errors.length - MAX_SYNTAX_ERRORS} more YAML syntax errors`);
    if (errors.length > 0) throw new ConfigError(file, errors.map((message) => ({ path: '', message })));
    // maxAliasCount bounds "billion laughs" expansion of anchors and aliases.
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const message = `invalid YAML: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(file, [{ path: '', message }], { cause: err });
  }
}

/**
 * logLevel silent: yaml otherwise prints process warnings for odd keys, which we report ourselves.
 * uniqueKeys false: duplicateKeys() does that check, in linear time.
 */
function compose(tokens: CST.Token[], length: number): Document.Parsed[] {
  const composer = new Composer({ uniqueKeys: false, logLevel: 'silent' });
  // yaml makes an Error, and so captures a stack trace, for every syntax error: 20,000 stray "]" took a
  // second, mostly in traces nobody reads. Composing is synchronous, so nothing else sees the limit.
  const { stackTraceLimit } = Error;
  Error.stackTraceLimit = 0;
  try {
    return Array.from(composer.compose(tokens, true, length));
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/**
 * A repeated key is almost always a paste error, and silently taking the last is worse. yaml's own
 * uniqueKeys check compares each key with every earlier one (a mapping of 16,000 keys took 4 s), and
 * lets `1` and `"1"` through, which toJS then makes one key. So keys are compared here, by the name
 * toJS gives them. Keys that are collections or aliases are rare enough to be left alone.
 */
function duplicateKeys(doc: Document.Parsed): { pos: number; message: string }[] {
  const found: { pos: number; message: string }[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const { key } of map.items) {
        // Merge keys (`<<` in YAML 1.1, whose value is a symbol) may repeat; each merges another mapping.
        if (!isScalar(key) || (typeof key.value === 'object' && key.value !== null) || typeof key.value === 'symbol') continue;
        const name = key.value === null || key.value === undefined ? '' : String(key.value);
        if (seen.has(name)) found.push({ pos: key.range?.[0] ?? map.range?.[0] ?? 0, message: 'Map keys must be unique' });
        seen.add(name);
      }
    },
  });
  return found;
}

/**
 * A JSON document is parsed by JSON.parse, a hundred times faster than the YAML parser (a 10,000-app
 * config: ~20 ms instead of ~5 s, which a reload would spend with the event loop blocked). Anything that
 * is not valid JSON returns undefined and goes to the YAML parser, whose errors carry line and column.
 */
function parseJson(text: string, file: string): { value: unknown } | undefined {
  if (!/^\s*\{/.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const dup = duplicateKey(text);
  if (dup) throw new ConfigError(file, [{ path: '', message: `duplicate key ${JSON.stringify(dup.key)} at line ${dup.line}` }]);
  return { value };
}

/**
 * yaml's composer recurses once per nesting level, so "[[[[..." blows the stack; repeated, V8 has
 * been seen to die with a fatal RegExpCompiler OOM instead of a catchable RangeError. Its CST parser
 * is iterative, so measure the depth there first. A real config nests about 5 levels.
 */
const MAX_DEPTH = 64;

function nestingDepth(tokens: readonly CST.Token[]): number {
  let max = 0;
  const stack: [CST.Token | undefined, number][] = tokens.map((token) => [token, 0]);
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [token, depth] = entry;
    if (!token) continue;
    max = Math.max(max, depth);
    if (token.type === 'document') stack.push([token.value, depth + 1]);
    else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      for (const item of token.items) stack.push([item.key ?? undefined, depth + 1], [item.value, depth + 1]);
    }
    // Stop early: a pathological document could otherwise be walked in full for nothing.
    if (max > MAX_DEPTH) break;
  }
  return max;
}
