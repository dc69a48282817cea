// A benchmark app whose requests cost real work: ~1 ms of CPU each, so a proxy's own cost is measured
// against an app that is not a no-op. Serves on the socket inherited as fd 3, like examples/hello.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';

if (process.env.LISTEN_FDS !== '1' || process.env.LISTEN_PID !== String(process.pid)) {
  console.error('expected one socket from the LISTEN_FDS protocol; run me under wakegate or systemd-socket-activate');
  process.exit(1);
}

const BURN_MS = 1;

const server = createServer((req, res) => {
  // A busy loop, not a timer: the point is CPU the app cannot yield, as in template rendering or JSON work.
  const until = performance.now() + BURN_MS;
  let spins = 0;
  while (performance.now() < until) spins++;
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`burned ${BURN_MS} ms (${spins} spins) in pid ${process.pid}\n`);
});
server.listen({ fd: 3 });

// Stop promptly on SIGTERM: close idle keep-alive connections too, or close() waits for the client.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
