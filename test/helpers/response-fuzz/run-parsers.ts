/**
 * Runs one response stream through the gateway's parser and through node:http's own (llhttp, set up as
 * node's http client sets it up: strict, the default header size limit), each fed in random splits, and
 * reduces each run to the same outcome shape so the two can be compared.
 */
import { createRequire } from 'node:module';
import { MalformedResponseError } from '../../../src/upstream/response-head.js';
import { ResponseParser } from '../../../src/upstream/response-parser.js';
import { Rng } from '../seeded-random.js';

export interface Message {
  status: number;
  reason: string;
  headers: string[];
  body: string;
  keepAlive: boolean;
}

export interface Outcome {
  messages: Message[];
  /** error: refused; clean: every byte read, nothing pending; stopped: a response that ends the connection came before the last byte; cut: the stream ended inside a response. */
  end: 'error' | 'clean' | 'stopped' | 'cut';
  /** Ours only: why it refused. */
  reason?: string;
  /** Bytes read when the run ended: where the next response would start, or where the error is. */
  at: number;
}

interface NodeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): undefined | Error;
  [key: number]: unknown;
}
interface NodeParserClass {
  new (): NodeParser;
  RESPONSE: number;
  kLenientNone: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: NodeParserClass };

/** Random cut points: every byte boundary is as likely a split as any other. */
function splits(r: Rng, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = r.chance(0.3) ? r.range(1, 3) : r.range(1, 200);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

export function runOurs(data: Buffer, method: string, splitSeed: number, maxHeadSize: number): Outcome {
  const messages: Message[] = [];
  let current: Message | undefined;
  let ended = false;
  const parser = new ResponseParser(
    {
      head: (h) => (current = { status: h.status, reason: h.reason, headers: h.headers, body: '', keepAlive: !h.close }),
      body: (chunk) => (current!.body += chunk.toString('latin1')),
      end: (reusable) => {
        current!.keepAlive = reusable;
        messages.push(current!);
        current = undefined;
        ended = true;
      },
    },
    maxHeadSize,
  );
  let at = 0;
  /** Where the last complete response ended: what an error reports, since the piece it hit is not counted. */
  let lastEnd = 0;
  try {
    parser.expect(method);
    for (let piece of splits(new Rng(splitSeed), data)) {
      while (piece.length > 0) {
        ended = false;
        const used = parser.execute(piece);
        at += used;
        piece = piece.subarray(used);
        if (!ended) continue;
        lastEnd = at;
        if (!messages.at(-1)!.keepAlive) return { messages, end: at < data.length ? 'stopped' : 'clean', at };
        parser.expect(method);
      }
    }
  } catch (err) {
    if (!(err instanceof MalformedResponseError)) throw err;
    return { messages, end: 'error', reason: err.reason, at: lastEnd };
  }
  try {
    parser.finish();
    return { messages, end: 'clean', at };
  } catch (err) {
    if (!(err instanceof MalformedResponseError)) throw err;
    // No byte of a further response: the stream simply ended between responses.
    return { messages, end: /before a response/.test(err.reason) ? 'clean' : 'cut', reason: err.reason, at };
  }
}

export function runNode(data: Buffer, method: string, splitSeed: number): Outcome {
  const messages: Message[] = [];
  let current: Message | undefined;
  let interim = false;
  let stop = false;
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, 0, HTTPParser.kLenientNone);
  parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[], _m: unknown, _u: unknown, status: number, reason: string, upgrade: boolean, keepAlive: boolean) => {
    // As node's http client: 1xx other than 101 precede the response, and HEAD responses have no body.
    interim = status >= 100 && status < 200 && status !== 101;
    current = { status, reason, headers, body: '', keepAlive: keepAlive && !upgrade };
    return interim || method === 'HEAD' ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => (current!.body += chunk.toString('latin1'));
  parser[HTTPParser.kOnMessageComplete] = () => {
    // node's client closes the socket after a response that ends the connection: what follows is never read.
    if (stop) return;
    if (!interim) messages.push(current!);
    if (!current!.keepAlive) stop = true;
    interim = false;
    current = undefined;
  };
  let at = 0;
  for (const piece of splits(new Rng(splitSeed), data)) {
    const result = parser.execute(piece);
    if (result instanceof Error) {
      // llhttp refuses data after a message that closes the connection: for the gateway that is a stop.
      const bytes = (result as Error & { bytesParsed?: number }).bytesParsed ?? 0;
      if (stop) return { messages, end: 'stopped', at: at + bytes };
      return { messages, end: 'error', at: at + bytes };
    }
    at += result;
    if (stop && at < data.length) return { messages, end: 'stopped', at };
  }
  const done = parser.finish();
  if (done instanceof Error) return { messages, end: 'cut', at };
  return { messages, end: 'clean', at };
}
