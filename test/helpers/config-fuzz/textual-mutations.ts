/** Textual mutations, on the serialized YAML or JSON text of a document. */
import type { Generation } from './generation.js';

const CHARS = [':', '{', '}', '[', ']', ',', '"', "'", '\t', '\n', ' ', '#', '&', '*', '!', '|', '>', '%', '@', '`', '-', '?', '\\', '\0', '\ufeff', '\r', '\u2028', '\u0085', 'x', '9', '\u00e9', '\ud83d'];
const TAGS = ['!!binary', '!!js/function', '!js/function', '!!python/object:os.system', '!!map', '!!seq', '!!str', '!!int', '!!float', '!!bool', '!!null', '!!set', '!!omap', '!!pairs', '!!timestamp', '!<tag:yaml.org,2002:str>', '!e!x', '!', '!!', '!custom', '!<!>'];
const SNIPPETS = [
  '&a ', '*a', '*undefined_alias', '<<: *a', '<<: {idleTimeout: 1s}', '<<: [*a, *a]', '? ', '? [a, b]: c', '---\n', '\n...\n', '%YAML 1.1\n', '%TAG !e! tag:e.com,2000:\n',
  '%YAML 2.0\n', '!!binary aGVsbG8=', '!!set {a, b}', '!!omap [a: 1]', '!!timestamp 2001-12-14', '{', '}', '[', ']', '"', "'", '|', '>-\n', '\t', '\ufeff', '\0',
  '- ', ': ', ', ', '#', '@', '`', '\\', '\r', '{ a: [ { b: ', '&x [*x]', 'apps: &x {a: *x}', '!!js/function "function(){}"',
];

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** `key: value` lines (YAML block style, or pretty JSON) as [line start, value start, value end], in the first 20k characters. */
function valueLines(text: string): [number, number, number][] {
  const out: [number, number, number][] = [];
  const head = text.slice(0, 20_000);
  const re = /^[ \t]*(?:"[^"\n]*"|[\w.-]+):[ ]+([^\n]*?),?[ \t]*$/gm;
  for (let m = re.exec(head); m && out.length < 500; m = re.exec(head)) {
    const valueStart = m.index + m[0].length - m[0].replace(/^[^:]*:[ ]+/, '').length;
    out.push([m.index, valueStart, valueStart + m[1]!.length]);
  }
  return out;
}

export function mutateText(g: Generation, text: string): string {
  const { r } = g;
  const pos = r.int(text.length + 1);
  switch (r.int(16)) {
    case 0: {
      const c = r.pick(CHARS);
      g.ops.push(`replace char ${pos} with ${JSON.stringify(c)}`);
      return text.slice(0, pos) + c + text.slice(pos + 1);
    }
    case 1: {
      const s = r.pick(SNIPPETS);
      g.ops.push(`insert ${JSON.stringify(s)} at ${pos}`);
      return text.slice(0, pos) + s + text.slice(pos);
    }
    case 2: {
      const len = r.chance(0.7) ? r.range(1, 20) : r.int(Math.ceil(text.length / 10) + 1);
      g.ops.push(`delete ${len} chars at ${pos}`);
      return text.slice(0, pos) + text.slice(pos + len);
    }
    case 3:
      g.ops.push(`truncate at ${pos}`);
      return text.slice(0, pos);
    case 4: {
      const starts = lineStarts(text);
      const i = r.int(starts.length);
      const line = text.slice(starts[i], (starts[i + 1] ?? text.length + 1) - 1);
      g.ops.push(`duplicate line ${i + 1}`);
      return `${text.slice(0, starts[i])}${line}\n${text.slice(starts[i])}`;
    }
    case 5:
      g.ops.push('BOM');
      return r.chance(0.7) ? `\ufeff${text}` : `${text.slice(0, pos)}\ufeff${text.slice(pos)}`;
    case 6:
      g.ops.push('CRLF');
      return r.chance(0.7) ? text.replace(/\n/g, '\r\n') : text.replace(/\n/g, '\r');
    case 7: {
      g.ops.push('tabs for indentation');
      return text.replace(/^( {2})+/gm, (s) => (r.chance(0.5) ? '\t'.repeat(s.length / 2) : s));
    }
    case 8: {
      const b = r.pick(['[', '{', ']', '}', '[{', '"']);
      const n = r.pick([1, 2, 3, 70, 1000, 5000]);
      g.ops.push(`insert ${JSON.stringify(b)} x${n} at ${pos}`);
      return text.slice(0, pos) + b.repeat(n) + text.slice(pos);
    }
    case 9:
    case 10: {
      // An anchor on one value and aliases to it elsewhere (possibly inside itself: a cycle).
      const lines = valueLines(text);
      if (lines.length === 0) return text;
      const [, aStart] = r.pick(lines);
      const name = `a${r.int(3)}`;
      let out = `${text.slice(0, aStart)}&${name} ${text.slice(aStart)}`;
      const aliases = r.range(1, 3);
      for (let i = 0; i < aliases; i++) {
        const targets = valueLines(out);
        const [, s, e] = r.pick(targets);
        out = `${out.slice(0, s)}*${name}${out.slice(e)}`;
      }
      g.ops.push(`anchor &${name} and ${aliases} aliases`);
      return out;
    }
    case 11: {
      const lines = valueLines(text);
      if (lines.length === 0) return text;
      const [, s] = r.pick(lines);
      const tag = r.pick(TAGS);
      g.ops.push(`tag ${tag}`);
      return `${text.slice(0, s)}${tag} ${text.slice(s)}`;
    }
    case 12: {
      // A merge key at the indentation of an existing key (merges are on in YAML 1.1).
      const lines = valueLines(text);
      if (lines.length === 0) return text;
      const [start] = r.pick(lines);
      const indent = /^[ \t]*/.exec(text.slice(start))![0];
      const merge = r.pick(['<<: *a0', '<<: {idleTimeout: 1s, polluted: yes}', '<<: [*a0, *a1]', '<<: {__proto__: {polluted: yes}}', '<<: *a0\n<<: *a0']);
      g.ops.push(`merge ${JSON.stringify(merge)}`);
      return `${text.slice(0, start)}${indent}${merge}\n${text.slice(start)}`;
    }
    case 13: {
      const d = r.pick(['%YAML 1.1\n---\n', '%YAML 1.2\n---\n', '--- !!map\n', '---\n', '--- |\n', '%TAG ! tag:yaml.org,2002:\n---\n', '# comment\n']);
      g.ops.push(`prefix ${JSON.stringify(d)}`);
      return d + text;
    }
    case 14: {
      const starts = lineStarts(text);
      if (starts.length < 2) return text;
      const i = r.int(starts.length - 1);
      const j = r.int(starts.length - 1);
      const lines = text.split('\n');
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      g.ops.push(`swap lines ${i + 1} and ${j + 1}`);
      return lines.join('\n');
    }
    default: {
      const starts = lineStarts(text);
      const at = r.pick(starts);
      const shift = r.chance(0.5);
      g.ops.push(`${shift ? 'indent' : 'dedent'} line at ${at}`);
      return shift ? `${text.slice(0, at)} ${text.slice(at)}` : text.slice(0, at) + text.slice(at).replace(/^ /, '');
    }
  }
}
