/**
 * The strict reading of one HTTP/1.1 response head (RFC 9112 §4, §5, §6.3), and of a trailer section.
 * Whatever could be read two ways by two parsers is refused: the gateway relays a response only when it
 * knows exactly where it ends, since a wrong guess lets an app's bytes pose as the next response.
 */

/** Why an app's response cannot be relayed; the proxy turns it into a 502 and closes the connection. */
export class MalformedResponseError extends Error {
  constructor(readonly reason: string) {
    super(`malformed response from the app: ${reason}`);
  }
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** [name, value, name, value, ...], names as the app spelt them, values without surrounding whitespace. */
  readonly headers: string[];
  /** -1 when the head has no Content-Length. */
  readonly contentLength: number;
  readonly chunked: boolean;
  /** The connection cannot carry another response: `Connection: close`, or HTTP/1.0 without keep-alive. */
  readonly close: boolean;
  /** The lower-cased tokens of every Connection field: hop-by-hop fields the app names. */
  readonly connectionTokens: readonly string[];
}

const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
/** Content-Length digits beyond which a value is no longer an exact JavaScript integer. */
const MAX_LENGTH_DIGITS = 15;

/** RFC 9110 §5.6.2 tchar. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
/** RFC 9110 §5.5 field-vchar, SP and HTAB: what a field value (and a reason phrase) may hold. */
const VALUE = new Uint8Array(256);
VALUE[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1;

function fail(reason: string): never {
  throw new MalformedResponseError(reason);
}

/** Index of the CR ending the line that starts at `from`; the caller guarantees that every LF follows a CR. */
function lineEnd(buf: Buffer, from: number, end: number): number {
  const lf = buf.indexOf(LF, from);
  if (lf < 0 || lf >= end) fail('a line without its end');
  return lf - 1;
}

/**
 * Calls `field` for every field line of buf[from, end), which ends with the empty line's CRLF. Refuses
 * obs-fold, whitespace before the colon, an empty or non-token name, and any control character in a value.
 */
export function readFields(buf: Buffer, from: number, end: number, field: (name: string, value: string) => void): void {
  let pos = from;
  for (;;) {
    const cr = lineEnd(buf, pos, end);
    if (cr === pos) return;
    let i = pos;
    while (i < cr && TOKEN[buf[i]!] === 1) i++;
    if (i === pos) fail(buf[pos] === SP || buf[pos] === HTAB ? 'obs-fold (a field line starting with whitespace)' : 'a field without a name');
    if (buf[i] !== COLON) fail('a field name with a character that is not a token (or whitespace before the colon)');
    const name = buf.toString('latin1', pos, i);
    let start = i + 1;
    while (start < cr && (buf[start] === SP || buf[start] === HTAB)) start++;
    let stop = cr;
    while (stop > start && (buf[stop - 1] === SP || buf[stop - 1] === HTAB)) stop--;
    for (let j = start; j < stop; j++) if (VALUE[buf[j]!] !== 1) fail(`a control character (0x${buf[j]!.toString(16)}) in field ${name}`);
    field(name, buf.toString('latin1', start, stop));
    pos = cr + 2;
  }
}

function sameName(name: string, lower: string): boolean {
  return name.length === lower.length && name.toLowerCase() === lower;
}

/** buf[0, end) is a whole head: its last four bytes are CRLF CRLF and every LF in it follows a CR. */
export function parseHead(buf: Buffer, end: number): ResponseHead {
  // HTTP-version SP 3DIGIT SP reason: only HTTP/1.0 and HTTP/1.1 frame their messages as read here.
  if (end < 14 || buf.toString('latin1', 0, 7) !== 'HTTP/1.' || (buf[7] !== 0x30 && buf[7] !== 0x31) || buf[8] !== SP) fail('not an HTTP/1.x status line');
  const http10 = buf[7] === 0x30;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) fail('a status code that is not three digits');
    status = status * 10 + d;
  }
  if (status < 100 || status > 599) fail(`status code ${status}`);
  const cr = lineEnd(buf, 12, end);
  let reason = '';
  if (cr > 12) {
    if (buf[12] !== SP) fail('no space after the status code');
    for (let j = 13; j < cr; j++) if (VALUE[buf[j]!] !== 1) fail('a control character in the reason phrase');
    reason = buf.toString('latin1', 13, cr);
  }
  const headers: string[] = [];
  let contentLength = -1;
  let chunked = false;
  let transferEncoding = false;
  let connectionTokens: string[] = [];
  readFields(buf, cr + 2, end, (name, value) => {
    headers.push(name, value);
    if (sameName(name, 'content-length')) {
      if (contentLength >= 0) fail('more than one Content-Length');
      if (value.length === 0 || value.length > MAX_LENGTH_DIGITS) fail(`Content-Length "${value}"`);
      for (let j = 0; j < value.length; j++) {
        const c = value.charCodeAt(j);
        if (c < 0x30 || c > 0x39) fail(`Content-Length "${value}"`);
      }
      contentLength = Number(value);
    } else if (sameName(name, 'transfer-encoding')) {
      // Only a lone `chunked` is framed unambiguously and relayed as it was meant: another coding would
      // reach the client undecoded once the field, hop-by-hop, is dropped.
      if (transferEncoding) fail('more than one Transfer-Encoding');
      transferEncoding = true;
      if (value.toLowerCase() !== 'chunked') fail(`Transfer-Encoding "${value}"`);
      chunked = true;
    } else if (sameName(name, 'connection')) {
      for (const token of value.toLowerCase().split(',')) {
        const t = token.trim();
        if (t) connectionTokens = [...connectionTokens, t];
      }
    }
  });
  if (chunked && contentLength >= 0) fail('both Content-Length and Transfer-Encoding');
  const close = connectionTokens.includes('close') || (http10 && !connectionTokens.includes('keep-alive'));
  return { status, reason, headers, contentLength, chunked, close, connectionTokens };
}
