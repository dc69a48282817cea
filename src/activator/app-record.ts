import type { AppState, ColdStartEvent, ExitEvent, Recorder } from './recorder.js';

/** Follows an app's state: an object, so that every app's socket activation holds no closure for it. */
export interface StateFollower {
  follow(state: AppState): void;
}

export type LastColdStart = ColdStartEvent & { readonly at: number };

/** What an app's activator reports, kept for status queries and passed on to the recorder. */
export class AppRecord {
  private lastCold: LastColdStart | undefined;
  private lastExit: (ExitEvent & { readonly at: number }) | undefined;
  private requestCount = 0;
  /**
   * An array, not a Set: nearly every app has one follower (its socket activation), and a Set's table is 10
   * times the size; a lone follower is kept as itself, without an array.
   */
  private followers: StateFollower | readonly StateFollower[] | undefined;

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
    const followers = this.followers;
    if (followers === undefined) return;
    if (!Array.isArray(followers)) return (followers as StateFollower).follow(to);
    for (const f of followers as readonly StateFollower[]) f.follow(to);
  }

  /** `follower.follow(state)` runs after every state change, once the recorder has it. */
  addFollower(follower: StateFollower): void {
    // Replaced, never changed in place: a follower that leaves during stateChanged leaves the loop as it was.
    const now = this.followers;
    this.followers = now === undefined ? follower : Array.isArray(now) ? [...(now as readonly StateFollower[]), follower] : [now as StateFollower, follower];
  }

  removeFollower(follower: StateFollower): void {
    const now = this.followers;
    if (now === follower) this.followers = undefined;
    else if (Array.isArray(now)) {
      const rest = (now as readonly StateFollower[]).filter((f) => f !== follower);
      this.followers = rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : rest;
    }
  }

  /** Calls `listener` after every state change, once the recorder has it; returns the unsubscribe. */
  onStateChange(listener: (state: AppState) => void): () => void {
    const follower: StateFollower = { follow: listener };
    this.addFollower(follower);
    return () => this.removeFollower(follower);
  }

  load(inflight: number, queued: number): void {
    this.recorder.load(this.app, inflight, queued);
  }
}
