import type { IncomingMessage } from 'node:http';
import { isIPv4 } from 'node:net';

/** Methods that change nothing: a page on another site may send them, but cannot read the answers (no CORS). */
const SAFE_METHODS = new Set(['GET', 'HEAD']);
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/**
 * Why a browser could have been made to send this admin request from another site, or undefined when it
 * could not. Used only when no token is configured: a bearer token is something a cross-site page can
 * neither read nor make a browser attach, so with one set it is the defence on its own.
 *
 * - DNS rebinding: a page on evil.example re-points its own name at 127.0.0.1 and then talks to the admin
 *   as a same-origin party; its requests still say `Host: evil.example`. So over TCP, Host must name the
 *   loopback: `localhost` and `*.localhost` (RFC 6761: resolvers and browsers answer them with loopback,
 *   so no outside party's DNS can stand behind them), an address in 127.0.0.0/8, or `[::1]`.
 * - CSRF: a form or fetch from another origin POSTs to 127.0.0.1 directly. Browsers put `Origin` on every
 *   cross-origin POST (and `Origin: null` from sandboxed or file pages), and `Sec-Fetch-Site` on every
 *   request, so a state-changing request must carry neither a foreign Origin nor a cross-site fetch mark.
 *   Clients that are not browsers (curl, `wakegate status`) send neither, and pass.
 *
 * Over a Unix socket the Host check is skipped: no browser connects to a Unix socket, so a name cannot
 * be rebound onto it, and only local processes allowed by the socket file's mode reach it. A browser
 * request can arrive there only through a relay (a front proxy of the operator's), which makes Host
 * whatever the page asked for; the socket has no origin of its own, so there any Origin, and any fetch
 * mark but `none`, on a state-changing request is refused.
 */
export function crossSiteProblem(req: IncomingMessage, overUnixSocket: boolean): string | undefined {
  const host = req.headers.host;
  if (!overUnixSocket && (host === undefined || !isLoopbackHost(host))) {
    return `Host ${JSON.stringify(host ?? '')} is not a loopback name (localhost, 127.0.0.1, [::1])`;
  }
  if (SAFE_METHODS.has(req.method ?? '')) return undefined;
  // Over a Unix socket the admin has no origin of its own (see above).
  const own = overUnixSocket ? undefined : host;
  const origin = req.headers.origin;
  if (origin !== undefined && (own === undefined || !sameOrigin(origin, own))) {
    return `a ${req.method} from another origin (Origin ${JSON.stringify(origin)})`;
  }
  const site = req.headers['sec-fetch-site'];
  // `none`: typed, bookmarked, or sent by no page at all.
  const ownSite = site === 'none' || (site === 'same-origin' && own !== undefined);
  if (site !== undefined && !ownSite) {
    return `a ${req.method} sent from another site (Sec-Fetch-Site ${JSON.stringify(site)})`;
  }
  return undefined;
}

/** Host with or without a port; IPv4 and IPv6 literals in any spelling a URL parser canonicalises. */
export function isLoopbackHost(host: string): boolean {
  const url = asUrl(host);
  if (!url) return false;
  // `localhost.` is the same name, fully qualified.
  const name = url.hostname.endsWith('.') ? url.hostname.slice(0, -1) : url.hostname;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIPv4(name)) return name.startsWith('127.');
  return name === '[::1]';
}

/** The Origin a browser sends for a page served by this very Host: `http://` + Host, default port dropped. */
function sameOrigin(origin: string, host: string): boolean {
  const own = asUrl(host);
  if (!own || origin === 'null') return false;
  try {
    return new URL(origin).origin === own.origin;
  } catch {
    return false;
  }
}

function asUrl(host: string): URL | undefined {
  // The pattern keeps userinfo, paths and the like out, so the URL parser sees only a host and a port.
  if (!HOST_RE.test(host)) return undefined;
  try {
    return new URL(`http://${host}`);
  } catch {
    return undefined;
  }
}
