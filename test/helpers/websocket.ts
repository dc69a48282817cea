import type { LookupFunction } from 'node:net';
import { Agent, WebSocket } from 'undici';

/** Resolves every name to 127.0.0.1, so that clients can use `*.localhost` names against a test gateway. */
const loopback: LookupFunction = (_hostname, options, callback) => {
  if (options.all) (callback as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

export const loopbackAgent = (): Agent => new Agent({ connect: { lookup: loopback } });

/** Opens a WebSocket to `host` through the gateway on `port`, resolving once open. */
export function openWebSocket(port: number, host: string, agent: Agent, path = '/ws'): Promise<WebSocket> {
  const ws = new WebSocket(`ws://${host}:${port}${path}`, { dispatcher: agent });
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', (e) => reject(new Error(`websocket failed: ${e.type}`)), { once: true });
  });
}

export function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.addEventListener('message', (e) => resolve(String(e.data)), { once: true }));
}

export function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === ws.CLOSED) return resolve(1006);
    ws.addEventListener('close', (e) => resolve(e.code), { once: true });
  });
}
