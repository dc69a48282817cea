import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenAddress } from '../config/types.js';
import { BadRequestError } from '../errors.js';
import { listenOn, type BoundAddress } from '../listen.js';
import { sendRawError } from './error-response.js';
import type { Logger } from '../log.js';
import type { RequestHandler } from './request-handler.js';

export type { BoundAddress };

/**
 * The shared front port. Node's parser enforces HTTP/1.1 framing (and answers 400 to a request without
 * Host); everything that parses goes to the request handler.
 */
export class HttpListener {
  private readonly server: Server;

  constructor(handler: RequestHandler, private readonly log: Logger) {
    this.server = createServer({ requireHostHeader: true, joinDuplicateHeaders: false }, handler.onRequest);
    this.server.on('upgrade', handler.onUpgrade);
    // Without a listener Node would just drop CONNECT; answer it, since wakegate is no tunnel.
    this.server.on('connect', (_req, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      sendRawError(socket, new BadRequestError('CONNECT is not supported'));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Malformed requests are the client's problem: answer if we still can, never let it reach the gateway.
      if (socket.writable && !socket.destroyed && err.code !== 'ECONNRESET') {
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      } else {
        socket.destroy();
      }
    });
  }

  listen(address: ListenAddress): Promise<BoundAddress> {
    return listenOn(this.server, address, (err) => this.log.error({ err }, 'front listener failed'));
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts what is left. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }
}
