import { Socket } from 'node:net';
import type { Logger } from '../log.js';

/** Longer lines are cut so that a tenant writing without newlines cannot grow the gateway's memory. */
const MAX_LINE = 16 * 1024;

/**
 * Forwards an instance's stdout or stderr (the read end of a pipe) to the gateway log, one log line per
 * output line at info level, tagged with the stream (apps log to stderr as a habit, not as an alarm). Takes ownership of `fd`. Resolves when every process holding the
 * write end (the instance and anything it forked) has closed it.
 */
export function forwardOutput(fd: number, stream: 'stdout' | 'stderr', log: Logger): Promise<void> {
  const socket = new Socket({ fd, readable: true, writable: false });
  let partial = '';
  let truncated = false;
  const emit = (line: string): void => log.info({ stream }, line.endsWith('\r') ? line.slice(0, -1) : line);
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      if (!truncated) emit(partial + chunk.slice(start, nl));
      partial = '';
      truncated = false;
      start = nl + 1;
    }
    if (truncated) return;
    partial += chunk.slice(start);
    if (partial.length > MAX_LINE) {
      emit(`${partial.slice(0, MAX_LINE)}…`);
      partial = '';
      truncated = true;
    }
  });
  return new Promise((done) => {
    socket.on('error', (err) => log.warn({ err, stream }, 'failed to read instance output, ignoring'));
    socket.on('close', () => {
      if (partial && !truncated) emit(partial);
      done();
    });
  });
}
