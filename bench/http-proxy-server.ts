/**
 * The peer baseline: the reverse proxy a Node user would write instead of wakegate, as ContainerNursery
 * does, with http-proxy. The one thing added is a keep-alive agent, which any user benchmarking it would
 * add: without one, http-proxy opens a new upstream connection per request.
 *
 *   node dist/bench/http-proxy-server.js <port> <app socket path>
 *
 * Prints "listening" on stdout once it accepts connections.
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const [port, socketPath] = process.argv.slice(2);
if (!port || !socketPath) {
  console.error('usage: http-proxy-server.js <port> <app socket path>');
  process.exit(2);
}

const proxy = httpProxy.createProxyServer({ target: { socketPath }, agent: new Agent({ keepAlive: true }), xfwd: true });
// Without a listener http-proxy rethrows upstream errors, and one refused connection would end the process.
proxy.on('error', (_err, _req, res) => {
  if (!res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
