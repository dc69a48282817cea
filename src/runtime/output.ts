import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { closeFd, pipe, spawn, type ChildHandle, type SpawnOptions } from '../native/index.js';
import type { Logger } from '../log.js';
import { DEFAULTS } from '../defaults.js';
import { EventTally } from '../event-tally.js';
import { TokenBucket } from '../token-bucket.js';

/** Longer lines are cut so that a tenant writing without newlines cannot grow the gateway's memory. */
const MAX_LINE = DEFAULTS.internal.outputMaxLine;

type DropListener = (app: string, lines: number) => void;
const dropListeners = new Set<DropListener>();

/**
 * Subscribes to the lines of instance output that the rate limit dropped, per app (for the metrics).
 * Process-wide, because the runtimes spawn instances without knowing which gateway asked; returns the
 * unsubscribe function.
 */
export function onOutputDropped(listener: DropListener): () => void {
  dropListeners.add(listener);
  return () => dropListeners.delete(listener);
}

/**
 * One instance's output budget, shared by its stdout and stderr: a tenant printing in a tight loop gets
 * `outputLinesPerSec` lines into the gateway log, and what is dropped is summed up once per interval.
 */
class OutputGate {
  private readonly bucket = new TokenBucket(DEFAULTS.internal.outputLinesPerSec, DEFAULTS.internal.outputBurstLines);
  private readonly app: string;
  readonly drops: EventTally<'lines'>;

  constructor(private readonly log: Logger) {
    const app: unknown = log.bindings().app;
    this.app = typeof app === 'string' ? app : '';
    this.drops = new EventTally(DEFAULTS.internal.logSummaryIntervalMs, (_key, count) => {
      this.log.warn({ dropped: count }, `dropped ${count} lines of output (more than ${DEFAULTS.internal.outputLinesPerSec} a second)`);
      for (const listener of dropListeners) listener(this.app, count);
    });
  }

  emit(stream: 'stdout' | 'stderr', line: string): void {
    if (this.bucket.take()) this.log.info({ stream }, line);
    else this.drops.add('lines');
  }
}

/**
 * Forwards an instance's stdout or stderr (the read end of a pipe) to the gateway log, one log line per
 * output line at info level, tagged with the stream (apps log to stderr as a habit, not as an alarm), within the
 * instance's rate limit (`gate`). Takes ownership of `fd`. Resolves when every process holding the
 * write end (the instance and anything it forked) has closed it.
 */
function forwardOutput(fd: number, stream: 'stdout' | 'stderr', log: Logger, gate: OutputGate): Promise<void> {
  const socket = new Socket({ fd, readable: true, writable: false });
  let partial = '';
  let truncated = false;
  const emit = (line: string): void => gate.emit(stream, line.endsWith('\r') ? line.slice(0, -1) : line);
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

/** Where an instance's stdout and stderr go instead of pipes into the gateway log; the fds stay the caller's. */
export interface OutputSink {
  readonly stdout: number;
  readonly stderr: number;
}

/**
 * Spawns an instance's main process with stdin on /dev/null and stdout/stderr on pipes forwarded to `log`.
 * `output` resolves once both pipes are closed by every process holding them.
 */
export function spawnWithOutput(
  file: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  sockets: readonly number[],
  options: Omit<SpawnOptions, 'stdio'>,
  log: Logger,
): { child: ChildHandle; output: Promise<unknown> } {
  return startWithOutput((stdio) => spawn(file, argv, env, sockets, { ...options, stdio }), log);
}

/**
 * As spawnWithOutput, for any way of starting the child (`start` gets its stdio). With a `sink` the
 * child's stdout and stderr are the sink's fds, and `output` is already resolved: nothing of it passes
 * through the gateway.
 */
export function startWithOutput<C extends ChildHandle>(
  start: (stdio: [number, number, number]) => C,
  log: Logger,
  sink?: OutputSink,
): { child: C; output: Promise<unknown> } {
  const devNull = openSync('/dev/null', 'r');
  if (sink) {
    try {
      return { child: start([devNull, sink.stdout, sink.stderr]), output: Promise.resolve() };
    } finally {
      closeSync(devNull);
    }
  }
  const [outRead, outWrite] = pipe();
  const [errRead, errWrite] = pipe();
  let child: C;
  try {
    child = start([devNull, outWrite, errWrite]);
  } catch (err) {
    closeFd(outRead);
    closeFd(errRead);
    throw err;
  } finally {
    // The child has its own copies now; keeping ours would hold the pipes open after it exits.
    closeSync(devNull);
    closeFd(outWrite);
    closeFd(errWrite);
  }
  const gate = new OutputGate(log);
  const output = Promise.all([forwardOutput(outRead, 'stdout', log, gate), forwardOutput(errRead, 'stderr', log, gate)]);
  // The last summary is said when the instance's output ends, not an interval later.
  return { child, output: output.then(() => gate.drops.flush()) };
}
