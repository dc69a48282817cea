import type { IncomingMessage } from 'node:http';
import type { AppState } from '../activator/recorder.js';
import type { WakeIgnore } from '../config/types.js';

/**
 * True when `req` is on the app's wake-ignore list and the app is asleep (stopped, or on its way there),
 * so the gateway answers for it instead of starting it. To a running app the same request is proxied.
 */
export function mustNotWake(rule: WakeIgnore | undefined, state: AppState, req: IncomingMessage): boolean {
  if (!rule || (state !== 'stopped' && state !== 'stopping')) return false;
  const path = (req.url ?? '/').split('?', 1)[0]!;
  const pathHit = rule.paths.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : path === p));
  if (pathHit) return true;
  const agent = (req.headers['user-agent'] ?? '').toLowerCase();
  return agent !== '' && rule.userAgents.some((a) => agent.includes(a));
}
