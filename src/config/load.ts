/** Reading and parsing the config file. The only way to obtain a GatewayConfig. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type CST, LineCounter, Parser, parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.js';
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
  if (json !== undefined) return validateConfig(json.value, abs, opts);
  const lines = new LineCounter();
  let raw: unknown;
  const depth = nestingDepth(text);
  if (depth > MAX_DEPTH) {
    throw new ConfigError(abs, [{ path: '', message: `YAML nesting is deeper than ${MAX_DEPTH} levels` }]);
  }
  try {
    // uniqueKeys: a repeated key is almost always a paste error, and silently taking the last is worse.
    // logLevel silent: yaml otherwise prints process warnings for odd keys, which we report ourselves.
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines, logLevel: 'silent' });
    if (doc.errors.length > 0) {
      const issues: ConfigIssue[] = doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { path: '', message: `YAML syntax error at line ${line}, column ${col}: ${e.message}` };
      });
      throw new ConfigError(abs, issues);
    }
    // maxAliasCount bounds "billion laughs" expansion of anchors and aliases.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const message = `invalid YAML: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(abs, [{ path: '', message }], { cause: err });
  }
  return validateConfig(raw, abs, opts);
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

function nestingDepth(text: string): number {
  let max = 0;
  const stack: [CST.Token | undefined, number][] = [];
  for (const token of new Parser().parse(text)) stack.push([token, 0]);
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
