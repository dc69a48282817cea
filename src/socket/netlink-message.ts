/**
 * The netlink framing sock_diag uses: a request header in front of a payload, and a walk over the
 * answer's messages and their attributes. Netlink fields are in host byte order; addresses and ports
 * inside sock_diag payloads are in network order and are read by the family parsers.
 */
import { endianness } from 'node:os';

/** <linux/netlink.h>, <linux/sock_diag.h>. */
export const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;
/** Attribute types carry NLA_F_NESTED / NLA_F_NET_BYTEORDER in their top bits. */
const NLA_TYPE_MASK = 0x3fff;

export const littleEndian = endianness() === 'LE';

export function u16(buf: Buffer, at: number): number {
  return littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
}

export function u32(buf: Buffer, at: number): number {
  return littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
}

/** u64 counters as numbers: exact below 2^53 bytes (8 PiB), which no connection reaches. */
export function u64(buf: Buffer, at: number): number {
  return Number(littleEndian ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at));
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** A SOCK_DIAG_BY_FAMILY dump request around `payload` (an inet_diag_req_v2 or unix_diag_req). */
export function diagDumpRequest(payload: Buffer): Buffer {
  const req = Buffer.alloc(NLMSG_HDRLEN + payload.length);
  const w32 = (v: number, at: number) => (littleEndian ? req.writeUInt32LE(v, at) : req.writeUInt32BE(v, at));
  const w16 = (v: number, at: number) => (littleEndian ? req.writeUInt16LE(v, at) : req.writeUInt16BE(v, at));
  w32(req.length, 0);
  w16(SOCK_DIAG_BY_FAMILY, 4);
  w16(NLM_F_REQUEST | NLM_F_DUMP, 6);
  // seq and pid stay 0: the socket is fresh and private to this one request.
  payload.copy(req, NLMSG_HDRLEN);
  return req;
}

/**
 * Calls `each(start, end)` with the payload bounds of every message of type SOCK_DIAG_BY_FAMILY.
 * A truncated or malformed message ends the walk: what the kernel wrote before it is still right.
 */
export function forEachMessage(buf: Buffer, each: (start: number, end: number) => void): void {
  let at = 0;
  while (at + NLMSG_HDRLEN <= buf.length) {
    const len = u32(buf, at);
    if (len < NLMSG_HDRLEN || at + len > buf.length) return;
    const type = u16(buf, at + 4);
    if (type === SOCK_DIAG_BY_FAMILY) each(at + NLMSG_HDRLEN, at + len);
    else if (type === NLMSG_ERROR) return;
    at += align4(len);
  }
}

/** Calls `each(type, start, end)` for every attribute between `start` and `end`. */
export function forEachAttribute(buf: Buffer, start: number, end: number, each: (type: number, at: number, end: number) => void): void {
  let at = start;
  while (at + NLA_HDRLEN <= end) {
    const len = u16(buf, at);
    if (len < NLA_HDRLEN || at + len > end) return;
    each(u16(buf, at + 2) & NLA_TYPE_MASK, at + NLA_HDRLEN, at + len);
    at += align4(len);
  }
}
