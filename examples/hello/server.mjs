// A minimal wakegate app: serve HTTP on the listening socket inherited as fd 3 (systemd's LISTEN_FDS
// protocol) instead of binding a port, and exit cleanly on SIGTERM so an idle stop is quick.
import { createServer } from 'node:http';

if (process.env.LISTEN_FDS !== '1' || process.env.LISTEN_PID !== String(process.pid)) {
  console.error('expected one socket from the LISTEN_FDS protocol; run me under wakegate');
  process.exit(1);
}

const greeting = process.env.GREETING ?? 'hello';
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${greeting} from ${process.env.LISTEN_FDNAMES} (pid ${process.pid})\n`);
});
server.listen({ fd: 3 });

// Without a handler, node as PID 1 in a container ignores SIGTERM and the gateway has to SIGKILL it.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
