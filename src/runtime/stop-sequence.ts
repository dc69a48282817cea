import type { Logger } from '../log.js';
import type { ExitInfo } from './runtime.js';

export interface StopSteps {
  /** Asks the instance to exit (SIGTERM). */
  terminate(): unknown;
  /** Makes it exit (SIGKILL of everything it consists of). */
  kill(): unknown;
  readonly exited: Promise<ExitInfo>;
}

/**
 * The one stop sequence of every runtime: terminate, `graceMs` of grace, then kill, logged at warn because
 * an app that needs it loses whatever it did not flush. Resolves with the exit, which `exited` reports.
 */
export async function stopInSteps(steps: StopSteps, graceMs: number, log: Logger): Promise<ExitInfo> {
  await steps.terminate();
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'timeout'>((done) => (timer = setTimeout(done, graceMs, 'timeout')));
  const first = await Promise.race([steps.exited, graceOver]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  log.warn({ stopTimeoutMs: graceMs }, 'did not exit within stopTimeout, killing');
  await steps.kill();
  return steps.exited;
}

export function delay(ms: number): Promise<undefined> {
  return new Promise((done) => setTimeout(done, ms, undefined).unref());
}
