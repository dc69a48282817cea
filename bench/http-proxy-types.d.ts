// http-proxy ships no types; this declares the part of its API that bench/http-proxy-server.ts uses.
declare module 'http-proxy' {
  import type { Agent, IncomingMessage, ServerResponse } from 'node:http';

  interface ServerOptions {
    readonly target: string | { readonly socketPath: string };
    readonly agent?: Agent;
    /** Adds X-Forwarded-For/-Port/-Proto/-Host, as wakegate does. */
    readonly xfwd?: boolean;
  }
  interface ProxyServer {
    web(req: IncomingMessage, res: ServerResponse): void;
    on(event: 'error', listener: (err: Error, req: IncomingMessage, res: ServerResponse) => void): this;
  }
  const httpProxy: { createProxyServer(options: ServerOptions): ProxyServer };
  export default httpProxy;
}
