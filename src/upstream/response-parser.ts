import { ChunkExtension } from './chunk-extension.js';
import { MalformedResponseError, parseHead, readFields, type ResponseHead } from './response-head.js';

/** What one response turns into. Body chunks are views of the bytes read, valid only during the call. */
export interface ResponseEvents {
  /** The final head (1xx heads are read and dropped: node:http answered 100-continue itself). */
  head(head: ResponseHead): void;
  /** Body bytes, framing removed. */
  body(chunk: Buffer): void;
  /** The response is complete; `reusable` when the connection may carry another. */
  end(reusable: boolean): void;
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkExt,
  ChunkSizeLF,
  ChunkData,
  ChunkDataCR,
  ChunkDataLF,
  Trailers,
  UntilClose,
  Done,
}

const CR = 13;
const LF = 10;
const SEMI = 59;
/** Hex digits beyond which a chunk size is no longer an exact JavaScript integer. */
const MAX_SIZE_DIGITS = 13;
const STATUS_START = Buffer.from('HTTP/1.', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;

function fail(reason: string): never {
  throw new MalformedResponseError(reason);
}

/**
 * An incremental, strict HTTP/1.1 response parser for one connection: bytes may arrive split anywhere.
 * The head and a trailer section are gathered into one buffer of `maxHeadSize`, allocated once per
 * connection; body bytes are handed on as views, never copied. `execute` throws MalformedResponseError
 * at the first byte that makes the framing ambiguous or invalid; the connection is then unusable.
 */
export class ResponseParser {
  private state = State.Done;
  private readonly buf: Buffer;
  private used = 0;
  private remaining = 0;
  private digits = 0;
  private noBody = false;
  private reusable = false;
  private prevCR = false;
  private readonly ext = new ChunkExtension();

  constructor(
    private readonly events: ResponseEvents,
    private readonly maxHeadSize: number,
  ) {
    this.buf = Buffer.allocUnsafe(maxHeadSize);
  }

  /** Expects the response to a request of `method`. */
  expect(method: string): void {
    this.noBody = method === 'HEAD';
    this.state = State.Head;
    this.used = 0;
    this.prevCR = false;
  }

  /** A response is expected and not yet complete. */
  get busy(): boolean {
    return this.state !== State.Done;
  }

  /**
   * Reads `data`; returns how many bytes belong to the expected response. Fewer than `data.length` only
   * when the response ended inside it: the rest is the app's next response, or garbage.
   */
  execute(data: Buffer): number {
    let i = 0;
    const n = data.length;
    while (i < n) {
      switch (this.state) {
        case State.Done:
          return i;
        case State.Head:
        case State.Trailers:
          i = this.gather(data, i);
          break;
        case State.Length: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          this.events.body(data.subarray(i, i + take));
          i += take;
          if (this.remaining === 0) this.complete();
          break;
        }
        case State.UntilClose:
          this.events.body(i === 0 ? data : data.subarray(i));
          return n;
        case State.ChunkData: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          this.events.body(data.subarray(i, i + take));
          i += take;
          if (this.remaining === 0) this.state = State.ChunkDataCR;
          break;
        }
        default:
          this.chunkByte(data[i++]!);
      }
    }
    return n;
  }

  /** The app closed its side: ends a close-delimited body, and is an error anywhere else. */
  finish(): void {
    if (this.state === State.UntilClose) return this.complete();
    if (this.state !== State.Done) fail(this.state === State.Head && this.used === 0 ? 'the connection closed before a response' : 'the connection closed inside the response');
  }

  private complete(): void {
    this.state = State.Done;
    this.events.end(this.reusable);
  }

  /** One byte of a chunk-size line, or the CRLF after chunk data: short, so read byte by byte. */
  private chunkByte(c: number): void {
    switch (this.state) {
      case State.ChunkSize: {
        const d = HEX[c]!;
        if (d >= 0) {
          if (++this.digits > MAX_SIZE_DIGITS) fail('a chunk size too large');
          this.remaining = this.remaining * 16 + d;
          return;
        }
        if (this.digits === 0) fail('a chunk size that is not hexadecimal');
        if (c === CR) return void (this.state = State.ChunkSizeLF);
        // RFC 9112 allows BWS before ";", llhttp refuses it: refused here too, so no parser in between reads it otherwise.
        if (c === SEMI) return void ((this.state = State.ChunkExt), this.ext.start());
        return fail('a chunk size that is not hexadecimal');
      }
      case State.ChunkExt:
        if (++this.digits > this.maxHeadSize) fail('a chunk extension too long');
        if (this.ext.byte(c)) this.state = State.ChunkSizeLF;
        return;
      case State.ChunkSizeLF:
        if (c !== LF) fail('a chunk size line not ended by CRLF');
        if (this.remaining > 0) return void (this.state = State.ChunkData);
        this.state = State.Trailers;
        this.used = 0;
        this.prevCR = false;
        return;
      case State.ChunkDataCR:
        return c === CR ? void (this.state = State.ChunkDataLF) : fail('chunk data longer than its size');
      case State.ChunkDataLF:
        if (c !== LF) fail('chunk data not ended by CRLF');
        return this.nextChunk();
    }
  }

  private nextChunk(): void {
    this.state = State.ChunkSize;
    this.remaining = 0;
    this.digits = 0;
  }

  /**
   * Copies head (or trailer) bytes until the empty line; refuses a bare LF or CR as it goes, so a head that
   * only a lenient parser would see end is refused rather than waited on.
   */
  private gather(data: Buffer, from: number): number {
    const whole = this.used === 0 && this.state === State.Head ? this.wholeHead(data, from) : -1;
    if (whole >= 0) {
      data.copy(this.buf, 0, from, whole);
      this.used = whole - from;
      this.headDone();
      return whole;
    }
    const buf = this.buf;
    for (let i = from; i < data.length; i++) {
      const c = data[i]!;
      if (this.used === buf.length) fail(this.state === State.Head ? 'a response head too large' : 'a trailer section too large');
      if (this.prevCR !== (c === LF)) fail(c === LF ? 'a bare LF' : 'a bare CR');
      this.prevCR = c === CR;
      // What cannot start a status line is refused at once, not waited on for a line end that may never come.
      if (this.used < 7 && this.state === State.Head && c !== STATUS_START[this.used]) fail('not an HTTP/1.x status line');
      buf[this.used++] = c;
      // The empty line: CRLF right after the previous line's CRLF (or at the very start of trailers).
      if (c === LF && ((this.used === 2 && this.state === State.Trailers) || (this.used >= 4 && buf[this.used - 3] === LF))) {
        if (this.state === State.Head) this.headDone();
        else this.trailersDone();
        return i + 1;
      }
    }
    return data.length;
  }

  /**
   * The common case, a whole head in one read, checked with native scans instead of byte by byte: the end
   * of the head just past the first CRLF CRLF, when the head starts as a status line, fits, and holds no
   * bare CR or LF. -1 otherwise, and the byte loop then reads it and names its first fault exactly.
   */
  private wholeHead(data: Buffer, from: number): number {
    const end = data.indexOf(HEAD_END, from);
    if (end < 0 || end + 4 - from > this.buf.length || end - from < 7 || data.compare(STATUS_START, 0, 7, from, from + 7) !== 0) return -1;
    const stop = end + 4;
    // Every LF after a CR and every CR before an LF: the two scans pair them all, so neither is bare.
    for (let lf = data.indexOf(LF, from); lf >= 0 && lf < stop; lf = data.indexOf(LF, lf + 1)) if (data[lf - 1] !== CR) return -1;
    for (let cr = data.indexOf(CR, from); cr >= 0 && cr < stop; cr = data.indexOf(CR, cr + 1)) if (data[cr + 1] !== LF) return -1;
    return stop;
  }

  private trailersDone(): void {
    // Trailers are checked as strictly as the head, and dropped: node:http relays none of them either.
    readFields(this.buf, 0, this.used, () => {});
    this.complete();
  }

  private headDone(): void {
    const head = parseHead(this.buf, this.used);
    this.used = 0;
    if (head.status < 200) {
      // 101 only answers an upgrade, which is not read here; other 1xx precede the real response.
      if (head.status === 101) fail('101 Switching Protocols to a request that asked for no upgrade');
      if (head.close) fail('an interim (1xx) response that closes the connection');
      return;
    }
    // As llhttp: a response without framing fields ends the connection even where it has no body (HEAD).
    this.reusable = !head.close && (head.chunked || head.contentLength >= 0 || head.status === 204 || head.status === 304);
    this.events.head(head);
    if (this.state === State.Done) return; // the sink gave up on the response
    if (this.noBody || head.status === 204 || head.status === 304) return this.complete();
    if (head.chunked) return this.nextChunk();
    if (head.contentLength >= 0) {
      this.remaining = head.contentLength;
      if (this.remaining === 0) return this.complete();
      this.state = State.Length;
      return;
    }
    this.state = State.UntilClose;
  }

  /** Stops reading: the exchange was abandoned. */
  abandon(): void {
    this.state = State.Done;
  }
}
