import type { AppState, ColdStartEvent, ExitEvent, Recorder } from '../activator/recorder.js';

/** One recorder that forwards every event to several (the log and the metrics). */
export function fanOut(...recorders: Recorder[]): Recorder {
  return {
    stateChanged: (app: string, from: AppState, to: AppState) => recorders.forEach((r) => r.stateChanged(app, from, to)),
    coldStart: (app: string, e: ColdStartEvent) => recorders.forEach((r) => r.coldStart(app, e)),
    instanceExited: (app: string, e: ExitEvent) => recorders.forEach((r) => r.instanceExited(app, e)),
    load: (app: string, inflight: number, queued: number) => recorders.forEach((r) => r.load(app, inflight, queued)),
  };
}
