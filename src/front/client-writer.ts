/** What sends the data: an upstream exchange (src/upstream/pool.ts), or an upgraded upstream socket. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/** A ServerResponse or a raw client socket. */
export interface ClientSink {
  write(chunk: Uint8Array, done: (err?: Error | null) => void): boolean;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
}

export interface WriterEvents {
  /** The source was paused because the client is full: a stall that is not the app's. */
  paused(): void;
  resumed(): void;
  /** No data left toward the client for `sendTimeoutMs` while some waited: cut it. */
  stalled(): void;
}

/**
 * Relays one response's data to its client with backpressure: when the client is full the source is
 * paused, and resumed once the client drains. While paused, the client must take data at least once per
 * `sendTimeoutMs` (a chunk, up to 64 KiB, reaches the kernel), else `stalled` fires.
 *
 * The resume is deferred to setImmediate, never made inside the 'drain' handler: node:http emits 'drain'
 * synchronously from inside other writes. A write to a response pipelined behind this one (still queued,
 * without a socket) runs `updateOutgoingData` → `socketOnDrain`, which emits 'drain' on the response that
 * holds the socket; that write is made from undici's parser of the other upstream connection, and resuming
 * undici there runs this connection's parser inside it (`assert(currentParser === null)` in
 * `Parser.resume`). setImmediate runs after every parser callback on the stack has returned (process.nextTick
 * would too, but would starve other I/O while a fast pair refills in a loop).
 */
export class ClientWriter {
  private blocked = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: ClientSink,
    private readonly source: Pausable,
    private readonly sendTimeoutMs: number,
    private readonly events: WriterEvents,
    /** Calls its argument once the sink writes to the client: a response pipelined behind another waits its turn. */
    private readonly whenSending: (start: () => void) => void = (start) => start(),
  ) {}

  write(chunk: Uint8Array): void {
    if (this.sink.write(chunk, this.progress) || this.blocked || this.stopped) return;
    this.blocked = true;
    this.source.pause();
    this.events.paused();
    this.sink.once('drain', this.drained);
    this.whenSending(() => this.arm());
  }

  /** The exchange is over: no more resumes or stalls. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sink.removeListener('drain', this.drained);
  }

  private arm(): void {
    if (this.stopped || !this.blocked || this.sendTimeoutMs <= 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.events.stalled();
    }, this.sendTimeoutMs);
  }

  /** A chunk left for the client: progress, however slow. */
  private readonly progress = (): void => {
    this.timer?.refresh();
  };

  private readonly drained = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    setImmediate(() => {
      if (this.stopped) return;
      this.blocked = false;
      this.events.resumed();
      this.source.resume();
    });
  };
}
