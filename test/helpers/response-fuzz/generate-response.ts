/**
 * Generated HTTP/1.x response streams for the differential test of src/upstream/response-parser.ts: one to
 * three responses back to back on one connection, well formed, then (most of the time) mutated at the
 * level of fields and framing, or of single bytes. Latin-1 text throughout: one character, one byte.
 */
import { Rng } from '../seeded-random.js';

export interface ResponseCase {
  /** The request method every response answers (HEAD responses carry no body whatever their fields say). */
  readonly method: 'GET' | 'HEAD';
  readonly text: string;
  /** What was done to build it, for the failure report. */
  readonly ops: string[];
}

const STATUSES = [200, 200, 200, 201, 204, 206, 301, 304, 400, 404, 500, 503, 100, 103, 101, 199, 600, 999, 99, 42];
const NAMES = ['Content-Type', 'X-Id', 'Set-Cookie', 'Cache-Control', 'Vary', 'ETag', 'Server', 'x-lower', 'X-Empty', 'Date', 'Keep-Alive', 'Trailer', 'Upgrade'];
const VALUES = ['text/plain', 'abc', 'a=1; Path=/', 'no-cache', '', '  padded  ', '"etag"', 'caf\u00e9', 'a\tb', 'timeout=5', 'x, y'];
const BODY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789\r\n \u00ff';
const BYTE_CHARS = ['\r', '\n', ' ', '\t', '\0', '\x7f', '\x01', ':', ';', ',', '0', 'f', 'g', '-', '"', '\u00ff', 'x', '\r\n', '\n\n', '\r\n\r\n'];

function body(r: Rng, size: number): string {
  let out = '';
  for (let i = 0; i < size; i++) out += BODY_CHARS[r.int(BODY_CHARS.length)];
  return out;
}

function chunks(r: Rng, data: string, ops: string[]): string {
  let out = '';
  for (let i = 0; i < data.length; ) {
    const n = Math.min(data.length - i, r.range(1, 40));
    const size = r.chance(0.2) ? n.toString(16).toUpperCase() : n.toString(16);
    const ext = r.chance(0.1) ? r.pick([';a=b', ';x', ' ;y="q"', ';k=v;z']) : '';
    if (ext) ops.push(`chunk extension ${JSON.stringify(ext)}`);
    out += `${r.chance(0.05) ? '000' : ''}${size}${ext}\r\n${data.slice(i, i + n)}\r\n`;
    i += n;
  }
  const trailer = r.chance(0.15) ? r.pick(['X-Trailer: 1\r\n', 'Expires: never\r\n', 'X-Bad Trailer: 1\r\n']) : '';
  if (trailer) ops.push(`trailer ${JSON.stringify(trailer)}`);
  return `${out}0\r\n${trailer}\r\n`;
}

/** One response, well formed unless a field-level mutation is picked for it. */
function response(r: Rng, ops: string[], last: boolean): string {
  const status = r.chance(0.85) ? r.pick(STATUSES.slice(0, 12)) : r.pick(STATUSES);
  const version = r.chance(0.9) ? 'HTTP/1.1' : r.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ']);
  const reason = r.pick(['OK', 'Not Found', '', 'Some Reason Here', 'caf\u00e9']);
  const fields: string[] = [];
  for (let i = r.int(5); i > 0; i--) fields.push(`${r.pick(NAMES)}:${r.chance(0.8) ? ' ' : ''}${r.pick(VALUES)}`);
  const data = body(r, r.chance(0.2) ? 0 : r.range(1, 120));
  // Framing: Content-Length, chunked, or (last response only) delimited by the close.
  const framing = r.int(last ? 3 : 2);
  let payload = data;
  if (framing === 0) fields.push(`${r.pick(['Content-Length', 'content-length', 'CONTENT-LENGTH'])}: ${data.length}`);
  else if (framing === 1) {
    fields.push(`${r.pick(['Transfer-Encoding', 'transfer-encoding'])}: ${r.pick(['chunked', 'chunked', 'Chunked'])}`);
    payload = chunks(r, data, ops);
  }
  if (r.chance(0.1)) fields.push(`Connection: ${r.pick(['close', 'keep-alive', 'X-Id', 'close, X-Id', 'Upgrade'])}`);
  if (r.chance(0.12)) fieldMutation(r, fields, ops, data.length);
  const interim = r.chance(0.05) ? r.pick(['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n']) : '';
  if (interim) ops.push('interim 1xx');
  ops.push(`${version} ${status}, framing ${['length', 'chunked', 'close'][framing]}, ${data.length} bytes`);
  return `${interim}${version} ${status}${reason || r.chance(0.5) ? ` ${reason}` : ''}\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n${payload}`;
}

/** Mutations a strict parser must refuse, or that are legal but unusual. */
function fieldMutation(r: Rng, fields: string[], ops: string[], length: number): void {
  const pick = r.int(14);
  const mutations: [string, () => void][] = [
    ['second Content-Length, same value', () => fields.push(`Content-Length: ${length}`)],
    ['second Content-Length, other value', () => fields.push(`Content-Length: ${length + 1}`)],
    ['Content-Length list', () => fields.push(`Content-Length: ${length}, ${length}`)],
    ['Content-Length with Transfer-Encoding', () => fields.push(r.chance(0.5) ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`)],
    ['Transfer-Encoding gzip, chunked', () => fields.push('Transfer-Encoding: gzip, chunked')],
    ['Transfer-Encoding chunked, gzip', () => fields.push('Transfer-Encoding: chunked, gzip')],
    ['Transfer-Encoding identity', () => fields.push('Transfer-Encoding: identity')],
    ['obs-fold', () => fields.push('X-Folded: a', ' b')],
    ['space before colon', () => fields.push('X-Space : a')],
    ['signed Content-Length', () => fields.push(`Content-Length: +${length}`)],
    ['control char in value', () => fields.push(`X-Ctl: a${r.pick(['\x01', '\x7f', '\0', '\x1b'])}b`)],
    ['empty name', () => fields.push(': nameless')],
    ['huge Content-Length', () => fields.push('Content-Length: 99999999999999999999')],
    ['bare LF line', () => fields.push('X-LF: a\nX-After: b')],
  ];
  const [name, apply] = mutations[pick]!;
  ops.push(name);
  apply();
}

/** Byte-level damage anywhere in the stream. */
function byteMutation(r: Rng, text: string, ops: string[]): string {
  const pos = r.int(text.length + 1);
  const c = r.pick(BYTE_CHARS);
  switch (r.int(3)) {
    case 0:
      ops.push(`replace byte ${pos} with ${JSON.stringify(c)}`);
      return text.slice(0, pos) + c + text.slice(pos + c.length);
    case 1:
      ops.push(`insert ${JSON.stringify(c)} at ${pos}`);
      return text.slice(0, pos) + c + text.slice(pos);
    default: {
      const n = r.range(1, 4);
      ops.push(`delete ${n} bytes at ${pos}`);
      return text.slice(0, pos) + text.slice(pos + n);
    }
  }
}

export function generateResponse(seed: number): ResponseCase {
  const r = new Rng(seed);
  const ops: string[] = [];
  const method = r.chance(0.1) ? 'HEAD' : 'GET';
  const count = r.range(1, 3);
  let text = '';
  for (let i = 0; i < count; i++) text += response(r, ops, i === count - 1);
  if (r.chance(0.3)) for (let i = r.range(1, 2); i > 0; i--) text = byteMutation(r, text, ops);
  if (r.chance(0.05)) {
    ops.push('cut short');
    text = text.slice(0, r.int(text.length));
  }
  return { method, text, ops };
}
