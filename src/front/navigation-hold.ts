import type { AppState } from '../activator/recorder.js';
import type { WaitingPageSpec } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { BackoffError, StartFailedError, WaitingError, WakegateError } from '../errors.js';
import { failedHtml, waitingHtml } from './waiting-page.js';

/** What holding a navigation needs of its app; declared here, by its consumer (the activator has it all). */
export interface StartingApp {
  readonly name: string;
  readonly state: AppState;
  /** When the cold start under way was triggered; undefined when none is. */
  readonly coldStartSince: number | undefined;
  readonly backoffRemainingMs: number;
  readonly record: { readonly lastColdStart: { readonly at: number; readonly result: string; readonly error?: Error } | undefined };
  onStateChange(listener: (state: AppState) => void): () => void;
}

/**
 * Wakes the stopped app without sending it a request: a connection waits in its socket's queue, and the
 * instance accepting it ends the cold start. False when the app cannot be woken so (then the request is
 * sent and held, as any other). A promise where the activator is in another process (a worker's, which
 * asks the primary): once it settles, `state` says the start it made.
 */
export type WakeHeld = (app: string) => boolean | Promise<boolean>;

const RELOAD_HOLD_MS = DEFAULTS.internal.waitingReloadHoldMs;
const REFRESH_SEC = DEFAULTS.internal.waitingRefreshSec;

/**
 * Holds a browser navigation until the app runs, or answers it with the waiting page. The navigation is not
 * sent while the app starts: sent, it would sit in the app's accept queue, where no abort can take it back
 * (a closed connection's bytes are still read by the instance that accepts it), and the page's reload
 * would reach the app a second time. So the navigation that finds the app stopped wakes it with an empty
 * connection instead (`wakeHeld`), waits for the start's confirmation for what is left of `after` (counted
 * from the start's trigger), and gets the page past it. The page reloads itself, and a navigation that
 * arrives past `after` (a reload) is held for `waitingReloadHoldMs` before it gets the page again; the
 * first reload that finds the app running (or is held when it comes up) is the one request the app sees.
 *
 * Resolves when the navigation may go on as any request (the app runs, the client left, or the app could
 * not be woken so); rejects with the WaitingError to answer: the page, or the failed-start page.
 */
export async function holdNavigation(app: StartingApp, spec: WaitingPageSpec, wakeHeld: WakeHeld, gone: () => boolean): Promise<void> {
  const arrived = Date.now();
  let woke = false;
  let sawStart = false;
  for (;;) {
    const state = app.state;
    if (state === 'running' || gone()) return;
    if (state === 'stopped') {
      const failure = sawStart ? startFailure(app, arrived) : undefined;
      const backoff = app.backoffRemainingMs;
      if (failure || backoff > 0) throw failedPage(app, failure ?? new BackoffError(app.name, backoff));
      // Woken once already and stopped with no failure recorded (a reload removed it, say): held as today.
      if (woke || !(await wakeHeld(app.name))) return;
      woke = true;
      continue;
    }
    if (state === 'starting') sawStart = true;
    // A start this navigation saw is stopping: it failed (or was stopped), which the stopped state will say.
    else if (sawStart) {
      await changeOrTimeout(app, undefined);
      continue;
    }
    const since = app.coldStartSince ?? arrived;
    // Arrived once the start had lasted `after` already: a reload, held a while. Else it waits out `after`.
    const deadline = arrived > since + spec.afterMs ? arrived + RELOAD_HOLD_MS : since + spec.afterMs;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitingError(app.name, waitingHtml(spec, app.name, Date.now() - since, REFRESH_SEC), { retryAfterSec: REFRESH_SEC, refreshSec: REFRESH_SEC });
    await changeOrTimeout(app, left);
  }
}

/** The failure of a cold start that ended after `since`, if it failed. */
function startFailure(app: StartingApp, since: number): WakegateError | undefined {
  const last = app.record.lastColdStart;
  if (!last || last.at < since || last.result === 'ok' || last.result === 'abandoned') return undefined;
  return last.error instanceof WakegateError ? last.error : new StartFailedError(app.name, { cause: last.error });
}

function failedPage(app: StartingApp, failure: WakegateError): WaitingError {
  const retryAfterSec = Math.max(1, Math.ceil(app.backoffRemainingMs / 1000));
  return new WaitingError(app.name, failedHtml(app.name, failure, retryAfterSec), { retryAfterSec, failure });
}

/** Resolves at the app's next change of state, or after `ms` when given (a stop is bounded by stopTimeout). */
function changeOrTimeout(app: StartingApp, ms: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      unsubscribe();
      resolve();
    };
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    const unsubscribe = app.onStateChange(done);
  });
}
