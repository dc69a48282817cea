import type { AppActivator } from '../activator/app-activator.js';
import { toWire, type AppMirror } from './protocol.js';

/** The app as the primary pushes it to its workers: its state, its instance, and its start for the waiting page. */
export function mirrorOf(app: AppActivator): AppMirror {
  const pid = app.instance?.pid;
  const coldStartSince = app.coldStartSince;
  const last = app.record.lastColdStart;
  const start = {
    backoffRemainingMs: app.backoffRemainingMs,
    ...(coldStartSince !== undefined && { coldStartSince }),
    ...(last && { lastColdStart: { at: last.at, result: last.result, ...(last.error !== undefined && { error: toWire(last.error) }) } }),
  };
  return { spec: app.spec, state: app.state, generation: app.generation, ...(pid !== undefined && { pid }), start };
}
