/** Hand-picked cases for the strict response parser; response-parser-fuzz.test.ts compares it with llhttp at large. */
import t from 'tap';
import { MalformedResponseError } from '../../src/upstream/response-head.js';
import { clientHeaders } from '../../src/upstream/response-headers.js';
import { ResponseParser } from '../../src/upstream/response-parser.js';
import type { ResponseHead } from '../../src/upstream/response-head.js';

interface Read {
  heads: ResponseHead[];
  body: string;
  ends: boolean[];
  used: number;
}

/** Feeds `text` one byte at a time (the hardest split) and returns what was read, or the refusal's reason. */
function read(text: string, method = 'GET', eof = false): Read | string {
  const got: Read = { heads: [], body: '', ends: [], used: 0 };
  const parser = new ResponseParser({ head: (h) => got.heads.push(h), body: (b) => (got.body += b.toString('latin1')), end: (r) => got.ends.push(r) }, 1024);
  parser.expect(method);
  const data = Buffer.from(text, 'latin1');
  try {
    for (let i = 0; i < data.length && parser.busy; i++) got.used += parser.execute(data.subarray(i, i + 1));
    if (eof) parser.finish();
  } catch (err) {
    if (err instanceof MalformedResponseError) return err.reason;
    throw err;
  }
  return got;
}

t.test('framing', async (t) => {
  const cl = read('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No\r\n\r\n') as Read;
  t.same([cl.body, cl.ends, cl.used], ['abc', [true], 41], 'Content-Length: the body, and the next response left unread');
  const chunked = read('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b;c="x\\"y"\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n') as Read;
  t.same([chunked.body, chunked.ends], ['abc0123456789', [true]], 'chunked, with extensions and a trailer');
  const close = read('HTTP/1.1 200 OK\r\n\r\nall of it', 'GET', true) as Read;
  t.same([close.body, close.ends], ['all of it', [false]], 'close-delimited: ends at the close, not reusable');
  const head = read('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD') as Read;
  t.same([head.body, head.ends], ['', [true]], 'HEAD: no body whatever Content-Length says');
  for (const status of [204, 304]) t.same((read(`HTTP/1.1 ${status} X\r\nContent-Length: 5\r\n\r\n`) as Read).ends, [true], `${status}: no body`);
  const interim = read('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n') as Read;
  t.same(interim.heads.map((h) => h.status), [200], '1xx heads are read and dropped');
  t.same((read('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n') as Read).ends, [false], 'HTTP/1.0 without keep-alive closes');
  t.same((read('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n') as Read).ends, [false], 'Connection: close');
  t.equal(read('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab', 'GET', true), 'the connection closed inside the response');
  t.equal(read('', 'GET', true), 'the connection closed before a response');
});

t.test('ambiguous or invalid framing is refused', async (t) => {
  const refused: [string, string][] = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'both Content-Length and Transfer-Encoding'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n', 'more than one Content-Length'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n', 'Content-Length "3, 3"'],
    ['HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n', 'Content-Length "+3"'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999\r\n\r\n', 'Content-Length "9999999999999999"'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 'Transfer-Encoding "gzip, chunked"'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'more than one Transfer-Encoding'],
    ['HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'obs-fold (a field line starting with whitespace)'],
    ['HTTP/1.1 200 OK\r\nX : a\r\n\r\n', 'a field name with a character that is not a token (or whitespace before the colon)'],
    ['HTTP/1.1 200 OK\nX: a\r\n\r\n', 'a bare LF'],
    ['HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n', 'a bare CR'],
    ['HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n', 'a control character (0x1) in field X'],
    ['HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n', 'a control character (0x7f) in field X'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'a chunk size that is not hexadecimal'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\n', 'a chunk size that is not hexadecimal'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n', 'a chunk size too large'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n', 'chunk data longer than its size'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a b\r\n', 'a chunk extension that is not token[=token or quoted-string]'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: 1\r\n\r\n', 'a field name with a character that is not a token (or whitespace before the colon)'],
    ['HTTP/2.0 200 OK\r\n\r\n', 'not an HTTP/1.x status line'],
    ['\r\nHTTP/1.1 200 OK\r\n\r\n', 'not an HTTP/1.x status line'],
    ['HTTP/1.1 600 X\r\n\r\n', 'status code 600'],
    ['HTTP/1.1 101 Switching Protocols\r\n\r\n', '101 Switching Protocols to a request that asked for no upgrade'],
    [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(1100)}\r\n\r\n`, 'a response head too large'],
  ];
  for (const [text, reason] of refused) t.equal(read(text), reason, JSON.stringify(text.slice(0, 60)));
});

t.test('the client sees the head without hop-by-hop fields, nor those Connection names', async (t) => {
  const got = read('HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a\r\nSet-Cookie: b\r\nTransfer-Encoding: chunked\r\nX-Kept: k\r\n\r\n0\r\n\r\n') as Read;
  t.same(clientHeaders(got.heads[0]!), ['Set-Cookie', 'a', 'Set-Cookie', 'b', 'X-Kept', 'k']);
});
