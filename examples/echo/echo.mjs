// A socket-mode wakegate app: a TCP (or Unix) echo server on every socket it inherits, fd 3.. by systemd's
// LISTEN_FDS protocol. wakegate binds the sockets, starts this on the first connection, and stops it once
// its connections have been quiet for idleTimeout; any protocol works the same way.
import net from 'node:net';

const count = Number(process.env.LISTEN_FDS ?? 0);
if (process.env.LISTEN_PID !== String(process.pid) || !(count > 0)) {
  console.error('expected sockets from the LISTEN_FDS protocol; run me under wakegate');
  process.exit(1);
}

const names = (process.env.LISTEN_FDNAMES ?? '').split(':');
const open = new Set();
const servers = Array.from({ length: count }, (_, i) => {
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen({ fd: 3 + i }, () => console.log(`echo on fd ${3 + i} (${names[i] || 'unnamed'})`));
  return server;
});

// Without a handler, node as PID 1 in a container ignores SIGTERM and the gateway has to SIGKILL it.
process.on('SIGTERM', () => {
  for (const server of servers) server.close();
  for (const socket of open) socket.destroy();
  process.exit(0);
});
