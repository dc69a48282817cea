/**
 * The entry point of a worker process (`workers: N`, N >= 2), forked by the primary (worker-pool.ts) with
 * an IPC channel at fd 3, the front listener at fd 4 and the held apps directory at fd 5.
 */
import { pino } from 'pino';
import { createLogger } from '../log.js';
import type { ToWorker } from './protocol.js';
import { WorkerFront } from './worker-front.js';

// The process group's signals (Ctrl-C in a terminal, systemd's stop sent to the whole cgroup) are the
// primary's to act on: it tells each worker when to stop, after the requests in flight here are done.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});

if (!process.send) {
  process.stderr.write('wakegate: the worker entry point is started by `wakegate run` with workers >= 2, not by hand\n');
  process.exit(2);
}
const send = process.send.bind(process);
// Never an orphan: the channel closes when the primary exits, however it does.
process.on('disconnect', () => process.exit(0));

process.once('message', (init: ToWorker) => {
  if (init.t !== 'init') throw new Error(`worker: expected init, got ${init.t}`);
  // One write(2) per line: the primary and every worker write to the same stdout, and a line of at most
  // PIPE_BUF bytes written whole is never interleaved with another process's, where batched asynchronous
  // writes, once the pipe is full, can be cut mid-line.
  const log = createLogger(init.config.log.level, pino.destination({ sync: true })).child({ worker: init.index });
  const front = new WorkerFront(init, (message) => send(message), log);
  process.on('message', (message: ToWorker) => {
    if (message.t !== 'shutdown') return front.onMessage(message);
    void front.close(message.graceMs).then(() => {
      log.info('worker stopped');
      process.exit(0);
    });
  });
  front.listen().then(
    (address) => {
      log.info({ address }, 'worker listening');
      send({ t: 'ready', address });
    },
    (err: unknown) => {
      log.error({ err }, 'failed to listen on the front socket');
      process.exit(1);
    },
  );
});
