// A steady, bounded client load for restarts and reloads: some clients open a new connection for every
// request, others keep one connection alive across requests, each sending one request every `intervalMs`.
// Every request ends in exactly one bucket, so that "0 refused, 0 failed" is a count and not an absence of
// log lines:
// - ok: a 2xx answer;
// - refused: connect() got ECONNREFUSED (no socket listened: the loss a plain restart causes);
// - failed: anything else (a reset or a close before the answer, a non-2xx status, no answer in time).
// A request on a reused keep-alive connection that the server closed before any byte of an answer is
// retried once on a new connection, as HTTP/1.1 lets a client do for an idempotent request (RFC 9112
// §9.3.1) and as browsers and most clients do: the server never saw it. Those are counted in `retried`,
// and the retry's own outcome goes to its bucket.
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';

export interface LoadTally {
  ok: number;
  refused: number;
  failed: number;
  retried: number;
  /** The first few failures, for the assertion message. */
  readonly failures: string[];
}

export interface LoadOptions {
  readonly port: number;
  readonly host?: string;
  /** The Host header (the app's name in the gateway's routing). */
  readonly hostHeader: string;
  readonly newConnectionClients?: number;
  readonly keepAliveClients?: number;
  readonly intervalMs?: number;
  /** A request with no answer within this is failed: bounds every request. */
  readonly requestTimeoutMs?: number;
}

type Outcome = 'ok' | 'refused' | 'failed' | 'stale';

export class RestartLoad {
  readonly tally: LoadTally = { ok: 0, refused: 0, failed: 0, retried: 0, failures: [] };
  private running = true;
  private readonly loops: Promise<void>[];
  private readonly agents: Agent[] = [];

  constructor(private readonly opts: LoadOptions) {
    const fresh = opts.newConnectionClients ?? 2;
    const kept = opts.keepAliveClients ?? 2;
    this.loops = [
      ...Array.from({ length: fresh }, () => this.loop(undefined)),
      ...Array.from({ length: kept }, () => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        this.agents.push(agent);
        return this.loop(agent);
      }),
    ];
  }

  /** A copy of the counts so far (to take the difference across one restart). */
  snapshot(): LoadTally {
    return { ...this.tally, failures: [...this.tally.failures] };
  }

  /** Stops after the requests in flight have ended (each is bounded by requestTimeoutMs). */
  async stop(): Promise<LoadTally> {
    this.running = false;
    await Promise.all(this.loops);
    for (const agent of this.agents) agent.destroy();
    return this.snapshot();
  }

  private async loop(agent: Agent | undefined): Promise<void> {
    const interval = this.opts.intervalMs ?? 5;
    while (this.running) {
      let outcome = await this.once(agent);
      if (outcome === 'stale') {
        this.tally.retried++;
        outcome = await this.once(undefined);
        if (outcome === 'stale') outcome = 'failed';
      }
      this.tally[outcome]++;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  private once(agent: Agent | undefined): Promise<Outcome> {
    return new Promise((resolve) => {
      let reused = false;
      let answered = false;
      let settled = false;
      const done = (outcome: Outcome, why?: string): void => {
        if (settled) return;
        settled = true;
        if (outcome === 'failed' && why && this.tally.failures.length < 10) this.tally.failures.push(why);
        resolve(outcome);
      };
      const req: ClientRequest = request({
        host: this.opts.host ?? '127.0.0.1',
        port: this.opts.port,
        path: '/',
        headers: { host: this.opts.hostHeader },
        agent: agent ?? false,
        timeout: this.opts.requestTimeoutMs ?? 20_000,
      });
      req.on('socket', (socket) => {
        // A socket the agent hands out already connected is a reused keep-alive connection.
        reused = agent !== undefined && !socket.connecting;
      });
      req.on('timeout', () => req.destroy(new Error('no answer in time')));
      req.on('response', (res: IncomingMessage) => {
        answered = true;
        res.resume();
        res.on('end', () => (res.statusCode && res.statusCode < 300 ? done('ok') : done('failed', `status ${res.statusCode}`)));
        res.on('error', (err) => done('failed', `response: ${err.message}`));
        // A connection closed in the middle of the body ends neither in 'end' nor always in 'error'.
        res.on('close', () => done('failed', 'closed before the end of the response'));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (answered) return;
        if (err.code === 'ECONNREFUSED') done('refused');
        else if (reused && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) done('stale');
        else done('failed', `${err.code ?? ''} ${err.message}`);
      });
      req.end();
    });
  }
}

/** The difference of two tallies (what one restart cost). */
export function since(before: LoadTally, after: LoadTally): Omit<LoadTally, 'failures'> {
  return { ok: after.ok - before.ok, refused: after.refused - before.refused, failed: after.failed - before.failed, retried: after.retried - before.retried };
}

/** Waits (bounded) until `count` more requests have been answered: the gateway serves, whichever process it is. */
export async function untilAnswered(load: RestartLoad, count: number, timeoutMs = 30_000): Promise<void> {
  const target = load.tally.ok + count;
  const deadline = Date.now() + timeoutMs;
  while (load.tally.ok < target) {
    if (Date.now() > deadline) throw new Error(`load: fewer than ${count} answers in ${timeoutMs} ms (${JSON.stringify(load.tally)})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The tally as a test comment, for the log of a run. */
export function report(t: { comment(message: string): void }, what: string, tally: LoadTally): void {
  t.comment(`${what}: ${tally.ok} ok, ${tally.refused} refused, ${tally.failed} failed, ${tally.retried} keep-alive retries`);
}
