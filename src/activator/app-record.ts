import type { AppState, ColdStartEvent, ExitEvent, Recorder } from './recorder.js';

export type LastColdStart = ColdStartEvent & { readonly at: number };

/** What an app's activator reports, kept for status queries and passed on to the recorder. */
export class AppRecord {
  private lastCold: LastColdStart | undefined;
  private lastExit: (ExitEvent & { readonly at: number }) | undefined;
  private requestCount = 0;
  /** An array, not a Set: every app has one listener (its socket activation), and a Set's table is 10 times the size. */
  private stateListeners: ReadonlyArray<(state: AppState) => void> = [];

  constructor(
    private readonly app: string,
    private readonly recorder: Recorder,
  ) {}

  /** Requests routed to the app since the gateway started, answered by it or by the gateway. */
  get requests(): number {
    return this.requestCount;
  }
  get lastColdStart(): LastColdStart | undefined {
    return this.lastCold;
  }
  get lastExitEvent(): (ExitEvent & { readonly at: number }) | undefined {
    return this.lastExit;
  }

  request(): void {
    this.requestCount += 1;
  }

  coldStart(event: ColdStartEvent): void {
    this.lastCold = { ...event, at: Date.now() };
    this.recorder.coldStart(this.app, event);
  }

  exited(event: ExitEvent): void {
    this.lastExit = { ...event, at: Date.now() };
    this.recorder.instanceExited(this.app, event);
  }

  stateChanged(from: AppState, to: AppState): void {
    this.recorder.stateChanged(this.app, from, to);
    for (const listener of this.stateListeners) listener(to);
  }

  /** Calls `listener` after every state change, once the recorder has it; returns the unsubscribe. */
  onStateChange(listener: (state: AppState) => void): () => void {
    // Replaced, never changed in place: a listener that unsubscribes during stateChanged leaves the loop as it was.
    this.stateListeners = this.stateListeners.concat([listener]);
    return () => void (this.stateListeners = this.stateListeners.filter((l) => l !== listener));
  }

  load(inflight: number, queued: number): void {
    this.recorder.load(this.app, inflight, queued);
  }
}
