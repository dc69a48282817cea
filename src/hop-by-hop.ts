/**
 * RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still meet; lower case. Neither the
 * request toward the app (front/forwarded.ts) nor the response toward the client (upstream/response-headers.ts)
 * carries them on, nor the fields a `Connection` header names.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
