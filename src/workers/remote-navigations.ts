import type { StartingApp } from '../front/navigation-hold.js';
import type { Navigations } from '../front/request-handler.js';
import { fromWire, type FromWorker } from './protocol.js';
import type { RemoteApp } from './remote-app.js';

/**
 * The waiting page in a worker process: the start of an app as its mirror carries it, and the wake sent to
 * the primary. The wake is asked, not assumed: a navigation woken optimistically would read its mirror
 * still `stopped` (the primary's push has not arrived) and be sent as any request, and one the primary
 * cannot wake (backoff, a dependency, no HTTP socket) would be held for a start that never comes. The
 * primary answers after the push of the start it made, so the mirror says `starting` when the answer comes.
 */
export class RemoteNavigations implements Navigations {
  private readonly asked = new Map<number, (woken: boolean) => void>();
  private nextId = 0;

  constructor(
    private readonly apps: (name: string) => RemoteApp | undefined,
    private readonly send: (message: FromWorker) => void,
  ) {}

  app(name: string): StartingApp | undefined {
    const app = this.apps(name);
    return app && startingView(app);
  }

  readonly wakeHeld = async (name: string): Promise<boolean> => {
    const app = this.apps(name);
    if (!app || app.closed) return false;
    const woken = await new Promise<boolean>((resolve) => {
      const id = ++this.nextId;
      this.asked.set(id, resolve);
      this.send({ t: 'wake', id, app: name });
    });
    // Started meanwhile by another worker's request (the mirror was behind): the start to wait for is under way.
    return woken || (!app.closed && app.state !== 'stopped');
  };

  /** The primary's answer to a `wake`. */
  woken(id: number, woken: boolean): void {
    this.asked.get(id)?.(woken);
    this.asked.delete(id);
  }
}

/**
 * The RemoteApp as holdNavigation reads it. Its own record is the worker's (when it saw the instance run,
 * for response timeouts); this one is the primary's, which says how the start ended. A closed app reads as
 * stopped with nothing to wait for, so a held navigation goes on and is refused as the app's requests are.
 */
function startingView(app: RemoteApp): StartingApp {
  return {
    name: app.name,
    get state() {
      return app.closed ? 'stopped' : app.state;
    },
    get coldStartSince() {
      return app.closed ? undefined : app.start.coldStartSince;
    },
    get backoffRemainingMs() {
      return app.closed ? 0 : app.backoffRemainingMs;
    },
    record: {
      get lastColdStart() {
        const last = app.start.lastColdStart;
        if (!last) return undefined;
        return { at: last.at, result: last.result, ...(last.error && { error: fromWire(last.error, app.name) }) };
      },
    },
    onStateChange: (listener) => app.onStateChange(listener),
  };
}
