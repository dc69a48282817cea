/**
 * The loader must turn any document into either a valid, deeply frozen config or a ConfigError whose
 * issues each carry a path and a message: never another exception, never a hang. Documents are
 * generated deterministically (test/helpers/config-fuzz/); a failure prints how to replay it:
 *   WAKEGATE_FUZZ_SEED=<run seed> WAKEGATE_FUZZ_DOC=<index>[,<index>...] npx tap dist/test/unit/config-fuzz.test.js
 * WAKEGATE_FUZZ_COUNT changes the number of documents; another WAKEGATE_FUZZ_SEED explores new ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { configProblems } from '../helpers/config-fuzz/config-problems.js';
import { makeFixture } from '../helpers/config-fuzz/fixture.js';
import { seedDocuments } from '../helpers/config-fuzz/fuzz-document.js';
import { fuzzConfigs } from '../helpers/config-fuzz/fuzz-runner.js';
import { pollution, prototypeKeys } from '../helpers/config-fuzz/prototype-pollution.js';

const RUN_SEED = Number(process.env.WAKEGATE_FUZZ_SEED ?? 20_250_601) >>> 0;
const COUNT = Number(process.env.WAKEGATE_FUZZ_COUNT ?? 10_000);
const ONLY = process.env.WAKEGATE_FUZZ_DOC;
/** One parse longer than this is a failure; one still running after HANG_MS is a hang, and is cut short. */
const LIMIT_MS = 2000;
const HANG_MS = 10_000;
const MAX_REPORTED = 25;

const wideEnv = Array.from({ length: 20_000 }, (_, i) => `      V${i}: ${i}`).join('\n');
/** Documents the fuzzer (or reading the loader while writing it) found mishandled, with the outcome they must have now. */
const REGRESSIONS: { name: string; text: string; expect: RegExp | 'valid' }[] = [
  { name: 'a second YAML document', text: 'listen: {http: ":0"}\napps: {}\n---\napps: {x: 1}\n', expect: /a second YAML document starts at line 3/ },
  { name: 'keys 1 and "1", one key once loaded', text: 'listen: {http: ":0"}\napps:\n  1: {}\n  "1": {}\n', expect: /line 4, column 3: Map keys must be unique/ },
  { name: 'a host with the Kelvin sign, which lower-cases to "k"', text: 'listen: {http: ":0"}\napps: {k: {hosts: ["\u212a.example"], command: [x], dir: app}}\n', expect: /expected a host name/ },
  { name: '20,000 stray "]"', text: `listen: {http: ":0"}\napps: {}${']'.repeat(20_000)}\n`, expect: /and 19990 more YAML syntax errors/ },
  { name: 'a mapping of 20,000 keys', text: `listen: {http: ":0"}\napps:\n  a:\n    hosts: [a.example]\n    command: [node]\n    dir: app\n    env:\n${wideEnv}\n`, expect: 'valid' },
];

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

t.test('10,000 generated and mutated configs give a frozen config or a ConfigError with paths, never another exception or a hang', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'wg-config-fuzz-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const { file, path } = makeFixture(root);
  const baseline = prototypeKeys();

  const badSeeds = seedDocuments().flatMap((text, i) => {
    try {
      const problems = configProblems(parseConfig(text, file, { env: { PATH: path }, uid: 0 }), file);
      return problems.length > 0 ? [`seed ${i}: ${problems.join('; ')}`] : [];
    } catch (err) {
      return [`seed ${i}: ${err instanceof Error ? err.message : String(err)}`];
    }
  });
  t.same(badSeeds, [], 'every seed config is valid, so mutations start from accepted documents');

  // CPU time rather than wall time: these take a second or more when done wrong, and must not flake on a busy machine.
  const regressions = REGRESSIONS.flatMap(({ name, text, expect }) => {
    const started = cpuMs();
    let outcome: string;
    try {
      parseConfig(text, file, { env: { PATH: path }, uid: 0 });
      outcome = 'valid';
    } catch (err) {
      outcome = err instanceof ConfigError ? err.issues.map((i) => `${i.path}: ${i.message}`).join('\n') : String(err);
    }
    const ms = cpuMs() - started;
    const ok = expect === 'valid' ? outcome === 'valid' : expect.test(outcome);
    return ok && ms < LIMIT_MS ? [] : [`${name}: ${outcome.slice(0, 300)} (${ms.toFixed(0)} ms of CPU)`];
  });
  t.same(regressions, [], 'documents once mishandled get the right outcome, each in under 2 s');

  const indexes = ONLY ? ONLY.split(',').map(Number) : Array.from({ length: COUNT }, (_, i) => i);
  const started = performance.now();
  const workers = Math.min(2, availableParallelism());
  const report = await fuzzConfigs({ runSeed: RUN_SEED, indexes, file, path, limitMs: LIMIT_MS, hangMs: HANG_MS, workers });
  const seconds = (performance.now() - started) / 1000;

  const { valid, rejected, stopped } = report;
  t.equal(valid + rejected + stopped, indexes.length, `run seed ${RUN_SEED}: ${valid} valid, ${rejected} rejected with a ConfigError, ${stopped} cut short`);
  if (!ONLY) t.ok(valid >= indexes.length / 20 && rejected >= indexes.length / 20, 'both outcomes are common, so the mutations reach deep checks');
  t.ok(report.maxMs <= LIMIT_MS, `slowest parse ${report.maxMs.toFixed(1)} ms (document ${report.slowest}), limit ${LIMIT_MS} ms`);
  // Wall time depends on the machine's load: reported, not asserted (a hang is caught per document above).
  t.comment(`${indexes.length} documents in ${seconds.toFixed(1)} s (${workers} workers)`);
  t.same(report.pollution, [], 'no prototype was polluted where the documents were parsed');
  t.same(pollution(baseline), [], 'nor in this thread');

  for (const f of report.failures.slice(0, MAX_REPORTED)) {
    t.fail(`document ${f.index} (seed 0x${f.seed.toString(16)}): ${f.problem}`, {
      replay: `WAKEGATE_FUZZ_SEED=${RUN_SEED} WAKEGATE_FUZZ_DOC=${f.index} npx tap dist/test/unit/config-fuzz.test.js`,
      ops: f.ops,
      text: f.document,
    });
  }
  if (report.failures.length > MAX_REPORTED) t.fail(`and ${report.failures.length - MAX_REPORTED} more failing documents`);
});
