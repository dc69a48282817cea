import type { Logger } from '../log.js';

/**
 * A worker's `wake`, run on the primary (AppRegistry.wakeHeld). It runs in the primary's IPC handler, where a
 * throw would end the gateway; in one process the same throw would cost only the request, so here it costs
 * only the waiting page: the worker is told no, and sends the navigation as any request.
 */
export function wakeForWorker(wakeHeld: (app: string) => boolean, app: string, log: Logger): boolean {
  try {
    return wakeHeld(app);
  } catch (err) {
    log.error({ err, app }, 'failed to wake an app for a held navigation');
    return false;
  }
}
