import type { ListenAddress } from '../config/types.js';
import type { BoundAddress } from '../listen.js';
import { frontFd, type FrontFd } from './front-fd.js';
import type { WorkerPool } from './worker-pool.js';

/**
 * The front listener of `workers: N` as the gateway wires it, in HttpListener's place: one listening
 * socket that the primary binds (or is passed by systemd) and never accepts on, and N workers that all
 * accept on it. One accept queue for all: a worker that dies takes no queued connection with it (with
 * SO_REUSEPORT each would own a queue), and systemd's socket unit and fd store see the one socket as before.
 */
export class SharedFront {
  private socket: FrontFd | undefined;

  constructor(private readonly workers: WorkerPool) {}

  async listen(address: ListenAddress, passed?: number): Promise<BoundAddress> {
    this.socket = await frontFd(address, passed);
    return this.workers.start(this.socket.fd);
  }

  /** The workers finish their requests and exit; then the socket is closed (a passed one stays systemd's). */
  async close(graceMs: number): Promise<void> {
    await this.workers.close(graceMs);
    this.socket?.close();
    this.socket = undefined;
  }
}
