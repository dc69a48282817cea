/**
 * Where the gateway's response parser and llhttp part ways on purpose. Each entry holds the rule the
 * stream must break (checked on its text), so that a refusal counts as known only where it applies.
 */
export interface KnownDifference {
  readonly name: string;
  /** The MalformedResponseError reason our parser gives. */
  readonly reason: RegExp;
  applies(text: string): boolean;
}

/** Every Transfer-Encoding field of the stream's heads, values lower-cased. */
function transferEncodings(text: string): string[] {
  return [...text.matchAll(/\r\ntransfer-encoding:[ \t]*([^\r\n]*?)[ \t]*(?=\r\n)/gi)].map((m) => m[1]!.toLowerCase());
}

/** RFC 9112 strictness that llhttp, even without its lenient flags, does not apply to responses. */
export const STRICTER: KnownDifference[] = [
  {
    // llhttp reads "chunked, gzip" or "identity" as close-delimited and a second field as a list; RFC 9112
    // §6.3 makes a response's framing depend on the final coding, and the gateway drops the field (hop-by-hop):
    // relayed, a coded body would reach the client undecoded, so only a lone `chunked` is taken.
    name: 'Transfer-Encoding other than one lone "chunked"',
    reason: /Transfer-Encoding/,
    applies: (text) => transferEncodings(text).some((v, _i, all) => v !== 'chunked' || all.length > 1),
  },
  {
    // llhttp takes any HTTP/x.y whose digits it knows (HTTP/2.0 included) and frames it as HTTP/1.1.
    name: 'a version other than HTTP/1.0 and HTTP/1.1',
    reason: /not an HTTP\/1\.x status line/,
    applies: (text) => /HTTP\/(?!1\.[01] )\d\.\d/.test(text),
  },
  {
    // RFC 9110 §15: status codes are 100-599; llhttp takes any three digits.
    name: 'a status code outside 100-599',
    reason: /^status code \d+$/,
    applies: (text) => /HTTP\/1\.[01] (0\d\d|6\d\d|7\d\d|8\d\d|9\d\d)/.test(text),
  },
  {
    // llhttp flags it as an upgrade and stops; the gateway never asked for one on this path.
    name: '101 to a request without Upgrade',
    reason: /^101 Switching Protocols/,
    applies: (text) => /HTTP\/1\.[01] 101/.test(text),
  },
  {
    // RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ); llhttp takes any byte but CR and LF, and
    // node:http's writeHead would throw on the control character when relaying it.
    name: 'a control character in a reason phrase',
    reason: /control character in the reason phrase/,
    applies: (text) => /HTTP\/1\.[01] \d\d\d [^\r\n]*[\x00-\x08\x0a-\x1f\x7f]/.test(text),
  },
  {
    // An interim response announces a final one on the same connection: closing after it contradicts that.
    name: 'a 1xx response with Connection: close',
    reason: /interim \(1xx\) response that closes/,
    applies: (text) => /HTTP\/1\.0 1\d\d|HTTP\/1\.[01] 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*?connection:[^\r\n]*close/i.test(text),
  },
  {
    // llhttp skips CR and LF before a status line (RFC 9112 §2.2 allows that of servers, for requests); a
    // response is read here only from its first byte, so stray line ends after a body are refused.
    name: 'a line end before a status line',
    reason: /bare LF|bare CR|not an HTTP\/1\.x status line/,
    applies: (text) => /[\r\n]HTTP\/1\.[01] \d/.test(text) || /^[\r\n]/.test(text),
  },
  {
    // RFC 9112 §2.2: a bare CR is invalid; llhttp takes one in a reason phrase.
    name: 'a bare CR',
    reason: /bare CR/,
    applies: (text) => /\r(?!\n)/.test(text),
  },
];


/** What llhttp refuses and we read, by RFC 9110's rules, with no effect on where the response ends. */
export const LENIENT: KnownDifference[] = [
  {
    // RFC 9110 §5.5: whitespace (SP or HTAB) around a field value is not part of it; llhttp refuses a tab
    // after a Content-Length. The value relayed is the trimmed one, so the client sees no ambiguity.
    name: 'a tab around a Content-Length value',
    reason: /^$/,
    applies: (text) => /\r\ncontent-length:[^\r\n]*\t/i.test(text),
  },
];
