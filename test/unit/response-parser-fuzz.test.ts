/**
 * The gateway's response parser against node:http's own (llhttp) over generated and mutated response
 * streams (test/helpers/response-fuzz/), each fed to both in random splits. They must agree on what is
 * refused, on every response read (status, reason, fields, body, keep-alive) and on where the next one
 * starts, except where RFC 9112 asks more than llhttp checks: those cases are listed in STRICTER, each
 * with the rule that the stream must break for the refusal to count. A failure prints how to replay it:
 *   WAKEGATE_FUZZ_SEED=<run seed> WAKEGATE_FUZZ_DOC=<index>[,<index>...] npx tap dist/test/unit/response-parser-fuzz.test.js
 * WAKEGATE_FUZZ_COUNT changes the number of streams; another WAKEGATE_FUZZ_SEED explores new ones.
 */
import t from 'tap';
import { DEFAULTS } from '../../src/defaults.js';
import { documentSeed } from '../helpers/seeded-random.js';
import { generateResponse } from '../helpers/response-fuzz/generate-response.js';
import { runNode, runOurs, type Outcome } from '../helpers/response-fuzz/run-parsers.js';
import { LENIENT, STRICTER } from '../helpers/response-fuzz/known-differences.js';

const RUN_SEED = Number(process.env.WAKEGATE_FUZZ_SEED ?? 20_261_202) >>> 0;
const COUNT = Number(process.env.WAKEGATE_FUZZ_COUNT ?? 20_000);
const ONLY = process.env.WAKEGATE_FUZZ_DOC;
const MAX_REPORTED = 10;

function same(a: Outcome, b: Outcome): boolean {
  if (a.end !== b.end) return false;
  if (JSON.stringify(a.messages) !== JSON.stringify(b.messages)) return false;
  // Where the next response starts must agree; where a refusal is detected, or where llhttp notices
  // data after a response that closes the connection, may differ by a byte or two.
  return a.end === 'error' || a.end === 'stopped' || a.at === b.at;
}

/**
 * Outcomes that differ in name only, for the gateway: either way it relays the same responses and then
 * closes the connection.
 */
function equivalent(ours: Outcome, node: Outcome, data: Buffer): { name: string } | undefined {
  // RFC 9110 §5.5: a field value excludes trailing whitespace, so `Connection: close<TAB>` closes; llhttp
  // reads the token with the tab, and keeps the connection. Closing is the safe side of the two.
  const last = ours.messages.length - 1;
  if (ours.end === 'stopped' && last >= 0 && !ours.messages[last]!.keepAlive && node.messages[last]?.keepAlive === true) {
    const kept = { ...node.messages[last]!, keepAlive: false };
    const same = JSON.stringify([...node.messages.slice(0, last), kept]) === JSON.stringify(ours.messages);
    if (same && /\r\nconnection:[^\r\n]*close[ \t]+(\r\n|,)/i.test(data.toString('latin1'))) return { name: 'whitespace after a Connection token' };
  }
  if (JSON.stringify(ours.messages) !== JSON.stringify(node.messages)) return undefined;
  // llhttp checks a head byte by byte and so refuses a broken one before its end; ours checks it whole.
  if (ours.end === 'cut' && node.end === 'error') return { name: 'a broken head cut short: refused at its end' };
  // And the other way round: a status line that cannot become HTTP/1.x is refused here at its first wrong byte.
  if (ours.end === 'error' && node.end === 'cut' && /status line/.test(ours.reason ?? '')) return { name: 'a cut status line refused at once' };
  // llhttp skips line ends after a response that closes the connection; the gateway closes it anyway.
  // llhttp skips line ends after a response; the gateway sees bytes where none may be, and closes the
  // connection (after a response that closes it anyway, or on an idle connection: no request fails).
  if ((ours.end === 'stopped' || ours.end === 'error') && node.end === 'clean' && /^[\r\n]+$/.test(data.toString('latin1', ours.at))) return { name: 'line ends after the last response' };
  return undefined;
}

t.test('the response parser agrees with llhttp, or refuses by a listed RFC 9112 rule', async (t) => {
  const indexes = ONLY ? ONLY.split(',').map(Number) : Array.from({ length: COUNT }, (_, i) => i);
  const failures: string[] = [];
  const used = new Map<string, number>();
  let refused = 0;
  for (const index of indexes) {
    const seed = documentSeed(RUN_SEED, index);
    const c = generateResponse(seed);
    const data = Buffer.from(c.text, 'latin1');
    const ours = runOurs(data, c.method, seed ^ 1, DEFAULTS.internal.upstreamMaxHeadSize);
    const node = runNode(data, c.method, seed ^ 2);
    if (ours.end === 'error') refused += 1;
    if (same(ours, node)) continue;
    // Stricter: we refuse where llhttp reads on, for a rule the stream indeed breaks.
    const stricter = ours.end === 'error' && ours.reason !== undefined ? STRICTER.find((k) => k.reason.test(ours.reason!) && k.applies(c.text)) : undefined;
    // Lenient: we read on, by the RFC, where llhttp refuses something that does not move a response's end.
    const lenient = node.end === 'error' && ours.end !== 'error' ? LENIENT.find((k) => k.applies(c.text)) : undefined;
    const known = stricter ?? lenient ?? equivalent(ours, node, data);
    if (known) {
      used.set(known.name, (used.get(known.name) ?? 0) + 1);
      continue;
    }
    if (failures.length < MAX_REPORTED) {
      failures.push(
        [
          `stream ${index} (WAKEGATE_FUZZ_SEED=${RUN_SEED} WAKEGATE_FUZZ_DOC=${index}), ${c.method}, ${c.ops.join('; ')}`,
          JSON.stringify(c.text),
          `ours: ${JSON.stringify(ours)}`,
          `node: ${JSON.stringify(node)}`,
        ].join('\n'),
      );
    } else failures.push('');
  }
  t.same(failures.filter(Boolean), [], `${failures.length} of ${indexes.length} streams read differently`);
  if (!ONLY) {
    // Not a timed assertion: proof that the generator reaches both sides of the parser.
    t.ok(refused > indexes.length / 10 && refused < (indexes.length * 9) / 10, `${refused} of ${indexes.length} refused`);
    t.comment(`known differences met: ${JSON.stringify(Object.fromEntries(used))}`);
  }
});
