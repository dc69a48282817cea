import t from 'tap';
import { parseConfig } from '../../src/config/load.js';
import { duplicateKey } from '../../src/config/json-keys.js';
import { ConfigError } from '../../src/errors.js';

const issues = (text: string): string[] => {
  try {
    parseConfig(text, '/tmp/wakegate.json', { env: {}, uid: 0 });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
};

t.test('JSON documents take the JSON.parse path and still report repeated keys', async (t) => {
  t.same(issues('{"listen":{"http":":0"},"apps":{}}'), []);
  t.same(issues('{\n"listen":{"http":":0"},\n"apps":{},\n"apps":{}}'), [': duplicate key "apps" at line 4']);
  t.same(duplicateKey('{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":1}]}'), undefined, 'equal keys in different objects are fine');
  t.same(duplicateKey('{"a\\"b":1,"a\\"b":2}'), { key: 'a"b', line: 1 }, 'escaped quotes inside keys');
  t.same(duplicateKey('{"k":"{\\"k\\":1}","z":1}'), undefined, 'braces inside strings are text');
});

t.test('what is not valid JSON goes to the YAML parser and its messages', async (t) => {
  t.match(issues('{"listen": {"http": ":0"}, "apps": {},}'), [], 'YAML flow mappings allow a trailing comma');
  t.match(issues('{"listen": '), [/YAML syntax error at line 1/]);
  t.match(issues(`{"apps": ${'['.repeat(100_000)}`), [/nesting is deeper than 64/], 'deep nesting is refused, not a crash');
  t.match(issues(`{"listen":{"http":":0"},"apps":${'['.repeat(50_000)}${']'.repeat(50_000)}}`), [/apps/], 'deep JSON fails validation with a path');
});
