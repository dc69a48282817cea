import { MalformedResponseError, TOKEN } from './response-head.js';

const enum Part {
  Name,
  Value,
  Quoted,
  Escaped,
  AfterQuoted,
}

const CR = 13;
const HTAB = 9;
const SEMI = 59;
const EQUALS = 61;
const DQUOTE = 34;
const BACKSLASH = 92;

/** RFC 9110 §5.6.4 qdtext. */
const QDTEXT = new Uint8Array(256);
for (let c = 0x20; c <= 0xff; c++) QDTEXT[c] = c === DQUOTE || c === BACKSLASH || c === 0x7f ? 0 : 1;
QDTEXT[HTAB] = 1;

function fail(reason: string): never {
  throw new MalformedResponseError(reason);
}

/**
 * The syntax check of a chunk's extensions, byte by byte from the first ";":
 * chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] ), without the BWS RFC 9112 allows, which
 * llhttp refuses (so that no parser in front of or behind the gateway reads the line otherwise).
 * Extensions are dropped; only where the line ends matters, and that nothing in it is a control character.
 */
export class ChunkExtension {
  private part = Part.Name;
  private length = 0;

  /** After the ";" that follows the chunk size. */
  start(): void {
    this.part = Part.Name;
    this.length = 0;
  }

  /** Reads one byte; true at the CR that ends the chunk-size line. */
  byte(c: number): boolean {
    switch (this.part) {
      case Part.Name:
      case Part.Value:
        if (TOKEN[c] === 1) {
          this.length += 1;
          return false;
        }
        if (this.length === 0) {
          if (this.part === Part.Value && c === DQUOTE) return this.to(Part.Quoted);
          fail('a chunk extension without a name or value');
        }
        if (c === EQUALS && this.part === Part.Name) {
          this.length = 0;
          return this.to(Part.Value);
        }
        return this.end(c);
      case Part.Quoted:
        if (c === DQUOTE) return this.to(Part.AfterQuoted);
        if (c === BACKSLASH) return this.to(Part.Escaped);
        if (QDTEXT[c] !== 1) fail('a control character in a chunk extension');
        return false;
      case Part.Escaped:
        if (c !== HTAB && (c < 0x20 || c === 0x7f)) fail('a control character in a chunk extension');
        return this.to(Part.Quoted);
      case Part.AfterQuoted:
        return this.end(c);
    }
  }

  private to(part: Part): false {
    this.part = part;
    return false;
  }

  private end(c: number): boolean {
    if (c === CR) return true;
    if (c !== SEMI) fail('a chunk extension that is not token[=token or quoted-string]');
    this.start();
    return false;
  }
}
