/** Header values as undici and node:http hand them over; undefined entries are left out. */
export type RawHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The text of an HTTP/1.1 response head, for sockets that node:http no longer writes for us (upgrade
 * requests, and errors answered on raw sockets). Values come from undici's parser or from the gateway,
 * so they hold no CR or LF; a repeated header is written once per value.
 */
export function rawHead(status: number, reason: string, headers: RawHeaders): string {
  let text = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of typeof value === 'string' ? [value] : value) text += `${name}: ${v}\r\n`;
  }
  return `${text}\r\n`;
}
