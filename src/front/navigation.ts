import type { IncomingMessage } from 'node:http';

/**
 * Whether a request is a browser navigation, the one kind of request a waiting page is for: GET or HEAD,
 * no `X-Requested-With` (a script's request, which would take the page as the data it asked for), and
 * either `Sec-Fetch-Mode: navigate` (what browsers send for a page load) or an `Accept` that prefers
 * `text/html` (an older browser). API clients (`Accept: application/json`, curl's `*\/*`) are not.
 */
export function isNavigation(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (req.headers['x-requested-with'] !== undefined) return false;
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode.trim().toLowerCase() === 'navigate';
  return prefersHtml(req.headers.accept);
}

/**
 * `text/html` named explicitly with a quality above 0 that no other listed type beats. A wildcard is
 * no preference: `*\/*` alone (curl, most HTTP libraries) takes whatever comes, the JSON error included.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = -1;
  let best = 0;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';');
    const type = range!.trim().toLowerCase();
    if (type === '') continue;
    const q = quality(params);
    if (type === 'text/html') html = Math.max(html, q);
    else if (type !== '*/*' && type !== 'text/*') best = Math.max(best, q);
  }
  return html > 0 && html >= best;
}

/** The `q` parameter (RFC 9110 §12.4.2): 0 to 1, 1 when absent; a malformed one counts as 0. */
function quality(params: readonly string[]): number {
  for (const param of params) {
    const [name, value] = param.split('=');
    if (name!.trim().toLowerCase() !== 'q') continue;
    const text = (value ?? '').trim();
    if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(text)) return 0;
    return Number(text);
  }
  return 1;
}
