import { readFileSync } from 'node:fs';
import type { AppState, Recorder } from '../activator/recorder.js';
import { DEFAULTS } from '../defaults.js';

/** The soft RLIMIT_NOFILE of this process (Node has no getrlimit); undefined when unlimited or unreadable. */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limits, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * The most client connections the front holds at once, sized so that they cannot take the gateway's last
 * file descriptor. Past it, a new connection is closed at accept and counted. Without such a cap, libuv
 * meets EMFILE by accepting and closing every pending connection (its reserve-fd trick), silently, on every
 * listener at once: the admin API too. Each client connection may hold an upstream connection besides its
 * own, so it costs two fds; `held` are the fds the process keeps besides them and its fixed reserve (the
 * listening sockets of the apps, their instances' pipes and pidfds).
 */
export function frontConnectionCap(limit: number | undefined, held: number): number | undefined {
  if (limit === undefined || !Number.isFinite(limit)) return undefined;
  return Math.max(1, Math.floor((limit - DEFAULTS.internal.fdReserve - held) / 2));
}

/**
 * The front's cap as the primary's fds change: every socket the apps hold, always, and each instance's
 * own fds while it exists. Sized from what is held rather than from the number of apps, so that 10,000
 * idle apps (one fd each) leave the front its share; they once reserved eight fds each, which under a
 * 20,000 limit left the front a single connection. A Recorder, to see instances come and go.
 */
export class FdBudget implements Recorder {
  #sockets = 0;
  #instances = 0;
  #cap: number | undefined;

  constructor(
    private readonly limit: number | undefined,
    /** Called with each new cap; the listener applies it to the connections it accepts from then on. */
    private readonly changed: (cap: number) => void = () => {},
  ) {
    this.#cap = this.compute();
  }

  get maxConnections(): number | undefined {
    return this.#cap;
  }

  /** The listening sockets the apps hold now: at start-up and after each reload. */
  setSockets(count: number): void {
    this.#sockets = count;
    this.update();
  }

  stateChanged(_app: string, from: AppState, to: AppState): void {
    if (from === 'stopped' && to !== 'stopped') this.#instances += 1;
    else if (to === 'stopped' && from !== 'stopped') this.#instances = Math.max(0, this.#instances - 1);
    else return;
    this.update();
  }

  coldStart(): void {}
  instanceExited(): void {}
  load(): void {}

  private compute(): number | undefined {
    return frontConnectionCap(this.limit, this.#sockets + DEFAULTS.internal.fdReservePerInstance * this.#instances);
  }

  private update(): void {
    const cap = this.compute();
    if (cap === undefined || cap === this.#cap) return;
    this.#cap = cap;
    this.changed(cap);
  }
}
