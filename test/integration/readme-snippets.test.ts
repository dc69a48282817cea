// Every code block in the README runs as written: each app (by its language tag, so a new snippet cannot
// slip past by lacking a marker) serves a request through a real gateway and exits on SIGTERM by itself;
// each YAML config validates; the JSON parses; each nginx block passes `nginx -t`. Shell blocks are commands
// for the reader and are not run.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { validateConfig } from '../../src/config/schema.js';
import { ROOT, startGateway, until } from '../helpers/gateway.js';
import { nginxConf } from '../helpers/nginx.js';
import { findTool, needTool, needTools, type Tools } from '../helpers/tools.js';

const exec = promisify(execFile);

interface Snippet { readonly lang: string; readonly code: string; readonly line: number }

function readmeSnippets(): Snippet[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  // A block may be indented under a list item; its closing fence is indented alike.
  return [...readme.matchAll(/^( *)```(\w*)\n([\s\S]*?)^\1```$/gm)].map((m) => ({
    lang: m[2]!,
    code: m[3]!.replace(new RegExp(`^${m[1]!}`, 'gm'), ''),
    line: readme.slice(0, m.index).split('\n').length,
  }));
}

interface AppRunner {
  readonly file: string;
  readonly tools: Tools;
  /** Prepares `dir` (compiles, if the language needs it) and returns the app's argv. */
  command(dir: string): Promise<string[]>;
}

const APPS: Readonly<Record<string, AppRunner>> = {
  js: { file: 'app.mjs', tools: {}, command: async () => [process.execPath, 'app.mjs'] },
  python: { file: 'app.py', tools: { python3: 'python3' }, command: async () => [findTool('python3')!, 'app.py'] },
  go: {
    file: 'main.go',
    tools: { go: 'golang-go' },
    command: async (dir) => {
      // A lone file builds outside any module, from the standard library alone: nothing is fetched. Go needs
      // a build cache, which defaults to one under $HOME.
      const env = process.env.HOME || process.env.GOCACHE ? process.env : { ...process.env, GOCACHE: join(dir, 'go-cache') };
      await exec(findTool('go')!, ['build', '-o', 'app', 'main.go'], { cwd: dir, env });
      return [join(dir, 'app')];
    },
  },
};

/** Blocks that are not apps: '' is output or a diagram, sh is commands for the reader. */
const NOT_APPS = new Set(['', 'sh', 'yaml', 'json', 'nginx']);

/** What a YAML snippet that is not a whole config is merged into: the smallest config with the app it names. */
const BASE_CONFIG = { listen: { http: '127.0.0.1:0' }, apps: { hello: { hosts: ['hello.localhost'], command: ['node', 'server.mjs'], dir: './examples/hello' } } };

function merge(base: unknown, over: unknown): unknown {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(base) || !isMap(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

const snippets = readmeSnippets();

t.test('every README code block is of a kind this test runs or checks', async (t) => {
  for (const s of snippets) t.ok(s.lang in APPS || NOT_APPS.has(s.lang), `README line ${s.line}: \`\`\`${s.lang} is run or checked here`);
  for (const lang of ['js', 'python', 'go']) t.ok(snippets.some((s) => s.lang === lang), `the README has a ${lang} app`);
});

for (const s of snippets.filter((s) => s.lang in APPS)) {
  const runner = APPS[s.lang]!;
  t.test(`README ${s.lang} app (line ${s.line}) serves a request and exits on SIGTERM`, async (t) => {
    if (!needTools(t, runner.tools)) return;
    const dir = mkdtempSync(join(tmpdir(), `wg-snippet-${s.lang}-`));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, runner.file), s.code);
    const command = await runner.command(dir);
    const gw = await startGateway(t, { snippet: { hosts: ['snippet.localhost'], command, dir, runtime: 'process', idleTimeout: '300ms', stopTimeout: '5s' } });
    const appOutput = (): string => JSON.stringify(gw.lines.filter((l) => l.stream !== undefined).map((l) => l.msg));
    const reply = await gw.get('snippet.localhost');
    t.equal(reply.status, 200, `status; app output: ${appOutput()}`);
    t.equal(reply.body, 'hello\n');
    // The idle stop is SIGTERM; an app that ignored it would be SIGKILLed after stopTimeout instead.
    await until(() => gw.lines.some((l) => l.reason === 'idle'), 10_000, 'the idle stop');
    const stop = gw.lines.find((l) => l.reason === 'idle')!;
    t.same([stop.code, stop.signal], [0, null], `exited 0 on SIGTERM, no SIGKILL; app output: ${appOutput()}`);
    t.equal(gw.runtime.starts, 1);
  });
}

t.test('the one install line in the README names exactly the packages .ci/run installs', async (t) => {
  const lines = snippets.filter((s) => s.lang === 'sh').flatMap((s) => s.code.split('\n')).filter((l) => /^apt-get install --no-install-recommends /.test(l));
  t.equal(lines.length, 1, 'one line installs everything');
  const readme = new Set(lines[0]!.split(/\s+/).slice(3));
  const ci = new Set([...readFileSync(join(ROOT, '.ci/run'), 'utf8').matchAll(/\[[\w+-]+\]=([\w.+-]+)/g)].map((m) => m[1]!));
  t.same([...readme].sort(), [...ci].sort());
});

t.test('every README YAML block is a valid config (fragments merged into a minimal one)', async (t) => {
  const yamls = snippets.filter((s) => s.lang === 'yaml');
  t.ok(yamls.length > 0, 'the README has YAML configs');
  for (const s of yamls) {
    const doc: unknown = parse(s.code);
    const whole = typeof doc === 'object' && doc !== null && 'listen' in doc ? doc : merge(BASE_CONFIG, doc);
    // Relative dirs in the snippets are relative to a config at the repository root, like examples/.
    t.doesNotThrow(() => validateConfig(whole, join(ROOT, 'readme-snippet.yaml'), { env: {} }), `README line ${s.line}`);
  }
});

t.test('every README JSON block parses', async (t) => {
  for (const s of snippets.filter((s) => s.lang === 'json')) t.doesNotThrow(() => JSON.parse(s.code), `README line ${s.line}`);
});

t.test('every README nginx block passes nginx -t inside an http {} block', async (t) => {
  const blocks = snippets.filter((s) => s.lang === 'nginx');
  t.ok(blocks.length > 0, 'the README has an nginx block');
  if (!needTool(t, 'nginx', 'nginx-light')) return;
  const dir = mkdtempSync(join(tmpdir(), 'wg-snippet-nginx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'temp'));
  for (const s of blocks) {
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConf(dir, s.code, 'nobody nogroup'));
    const result = await exec(findTool('nginx')!, ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', conf]).then(
      () => '',
      (err: { stderr?: string }) => err.stderr ?? String(err),
    );
    t.equal(result, '', `README line ${s.line}`);
  }
});
