import type { Socket } from 'node:net';
import type { StateFollower } from '../activator/app-record.js';
import type { AppState } from '../activator/recorder.js';
import { DEFAULTS } from '../defaults.js';
import type { SyscallError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AppSockets } from './app-sockets.js';
import type { KernelCounters } from './kernel-counters.js';
import { ReadableWatch, type WatchOwner } from './readable-watch.js';

/** What socket activation needs of an app's activator; declared here, by its consumer. */
export interface Wakeable {
  readonly state: AppState;
  /** Milliseconds until a start may happen (crash backoff, or a dependency's); 0 when one may now. */
  readonly startBlockedMs: number;
  /** Starts an instance for a waiting connection; false when none may start now. */
  wake(): boolean;
  /** The woken instance has drained its accept queue. */
  accepted(): void;
  addFollower(follower: StateFollower): void;
  removeFollower(follower: StateFollower): void;
}

/**
 * Socket activation of one app. While the app is stopped, every socket of it is watched for a connection
 * waiting in its accept queue; the first one wakes the app, however many arrive together. The gateway never
 * accepts: the instance accepts them all from its inherited fds. While a woken instance starts, the accept
 * queues are read from the kernel until the instance has drained them, which confirms the start. During a
 * crash backoff nothing is watched: connections wait in the kernel backlog, and the watch is armed again
 * (and fires at once for them) when the backoff ends.
 */
export class SocketActivation implements StateFollower, WatchOwner {
  #watch: ReadableWatch | undefined;
  #backoffTimer: NodeJS.Timeout | undefined;
  #acceptPoll: NodeJS.Timeout | undefined;
  #waking = false;
  /** The instance that ran last was started by a request through the front, not by a waiting connection. */
  #frontStarted = false;
  /**
   * Connections the front left in the HTTP app socket's queue when its instance died without accepting them:
   * their clients are gone, so they must not wake the app (a crashing app would be restarted forever). The
   * socket is not watched while they wait; the next instance, started by a request, drains them.
   */
  #httpStale = false;
  #closed = false;
  /** The empty connection a held navigation woke the app with (wakeHeld); closed when the start ends. */
  #probe: Socket | undefined;

  constructor(
    private readonly app: Wakeable,
    private readonly sockets: AppSockets,
    private readonly counters: KernelCounters,
    /** Read at each line: the app's logger is made on its first one (see AppDeps). */
    private readonly logs: { readonly log: Logger },
  ) {
    // This object follows the app and owns the watch itself: no closure per app, for 100,000 stopped apps.
    app.addFollower(this);
    this.follow(app.state);
  }

  /** Watching now (the app is stopped and not in backoff). */
  get watching(): boolean {
    return this.#watch?.armed ?? false;
  }

  /** The app's sockets changed (reload): a stopped app drops removed ones and is watched on the new set. */
  refresh(): void {
    this.#disarm();
    this.follow(this.app.state);
  }

  /** Stops watching and polling for good; the sockets themselves are their owner's to close. */
  close(): void {
    this.#closed = true;
    this.#probe?.destroy();
    this.#probe = undefined;
    this.app.removeFollower(this);
    this.#disarm();
    this.#stopAcceptPoll();
  }

  /**
   * Wakes the stopped app for a request the front holds back until the instance accepts (a browser
   * navigation that may get the waiting page instead, and must then never reach the app): `connect` puts an
   * empty connection in the HTTP app socket's queue, and the start is confirmed when the instance has
   * drained it, as for any waiting connection. The connection is closed when the start ends, so the
   * instance reads EOF from it. If the instance dies without accepting it, it is stale like the front's own
   * (see #httpStale) and does not wake the app again. False: the app may not start now, or cannot be so woken.
   */
  wakeHeld(connect: () => Socket): boolean {
    if (this.#closed || this.app.state !== 'stopped' || !this.sockets.list.some((s) => s.address === 'http')) return false;
    const probe = connect();
    probe.on('error', () => probe.destroy());
    this.#probe = probe;
    this.#waking = true;
    if (this.app.wake()) return true;
    this.#waking = false;
    this.#probe = undefined;
    probe.destroy();
    return false;
  }

  /** The app's state changed (StateFollower); not for other callers. */
  follow(state: AppState): void {
    if (this.#closed) return;
    // Woken for a held request, the start is the front's: what it leaves in the HTTP queue is stale.
    if (state === 'starting') this.#frontStarted = !this.#waking || this.#probe !== undefined;
    else {
      this.#waking = false;
      this.#stopAcceptPoll();
      this.#probe?.destroy();
      this.#probe = undefined;
    }
    // A frozen instance accepts nothing: a connection waiting in the kernel queue must thaw it.
    if (state === 'frozen') return this.#arm();
    if (state !== 'stopped') return (this.#httpStale = false), this.#disarm();
    // No instance can hold a socket a reload removed any more.
    this.sockets.closeRetired();
    const http = this.sockets.list.find((s) => s.address === 'http');
    if (!this.#frontStarted || !http) return this.#arm();
    this.#frontStarted = false;
    void this.counters.sample([{ key: http.key, kind: http.kind, inode: http.inode }]).then(
      (counts) => {
        this.#httpStale = (counts.get(http.key)?.acceptQueue ?? 0) > 0;
        if (this.app.state === 'stopped' && !this.#closed) this.#arm();
      },
      (err: unknown) => {
        this.logs.log.warn({ err }, 'cannot read the accept queue of the HTTP app socket; not watching it until the next start');
        this.#httpStale = true;
        if (this.app.state === 'stopped' && !this.#closed) this.#arm();
      },
    );
  }

  #arm(): void {
    if (this.#watch?.armed || this.#backoffTimer) return;
    const wait = this.app.startBlockedMs;
    if (wait > 0) {
      this.#backoffTimer = setTimeout(() => {
        this.#backoffTimer = undefined;
        if (this.app.state === 'stopped') this.#arm();
      }, wait);
      return;
    }
    const fds = this.sockets.list.filter((s) => s.fd >= 0 && !(this.#httpStale && s.address === 'http')).map((s) => s.fd);
    if (fds.length === 0) return;
    const watch = new ReadableWatch(fds);
    try {
      watch.arm(this);
    } catch (err) {
      return void this.logs.log.error({ err }, 'cannot watch the app sockets; connections to them will not wake the app');
    }
    this.#watch = watch;
  }

  /**
   * Wakes the app as a waiting connection does, so that its start ends when the instance accepts (a
   * dependent's start wakes its dependencies so). False when none may start now (closed, backoff).
   */
  wake(): boolean {
    if (this.#closed) return false;
    if (this.app.state === 'frozen') return this.app.wake();
    if (this.app.state !== 'stopped') return true;
    this.#waking = true;
    // Synchronously, wake() moves the app to starting (which starts the accept poll) or refuses.
    if (this.app.wake()) return true;
    this.#waking = false;
    return false;
  }

  /** A connection waits on one of the app's sockets (WatchOwner); not for other callers. */
  pending(): void {
    if (this.wake()) return;
    // Refused with no backoff left means the app is closing: arming again would fire again at once.
    if (this.app.startBlockedMs > 0) this.#arm();
  }

  /** Watching one of the app's sockets failed (WatchOwner); not for other callers. */
  failed(err: SyscallError, fd: number): void {
    const socket = this.sockets.list.find((s) => s.fd === fd);
    this.logs.log.error({ err, address: socket?.address }, 'watching an app socket failed; connections to it will not wake the app until its next stop');
  }

  #disarm(): void {
    this.#watch?.disarm();
    this.#watch = undefined;
    clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
    if (this.#waking && this.app.state === 'starting') this.#startAcceptPoll();
  }

  #startAcceptPoll(): void {
    if (this.#acceptPoll) return;
    const poll = (): void => {
      this.#acceptPoll = undefined;
      void this.counters.sample(this.sockets.listeners()).then(
        (counts) => {
          if (!this.#waking || this.#closed) return;
          const values = [...counts.values()];
          // The first accept, or every queue empty (the connection that woke the app may have gone already).
          // (accepted() waits for the instance to exist: until then the queues being empty proves nothing.)
          if (values.some((c) => c.connections > 0) || values.every((c) => c.acceptQueue === 0)) this.app.accepted();
          if (this.#waking && this.app.state === 'starting') this.#acceptPoll = setTimeout(poll, DEFAULTS.internal.acceptPollMs);
        },
        (err: unknown) => {
          this.logs.log.warn({ err }, 'cannot read the accept queues; the start is confirmed by startTimeout or a request');
        },
      );
    };
    this.#acceptPoll = setTimeout(poll, DEFAULTS.internal.acceptPollMs);
  }

  #stopAcceptPoll(): void {
    clearTimeout(this.#acceptPoll);
    this.#acceptPoll = undefined;
  }
}
