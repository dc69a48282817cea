/**
 * Every default wakegate applies, in one frozen object. The README's defaults table is checked against
 * it by test/unit/defaults.test.ts, so a changed value here is a changed (and documented) behaviour.
 */
export const DEFAULTS = Object.freeze({
  /** Top-level settings. */
  gateway: Object.freeze({
    shutdownTimeoutMs: 10_000,
    /** The address `wakegate status` asks when neither --admin nor -c names one. */
    adminAddress: '127.0.0.1:9090',
    log: Object.freeze({ level: 'info' as const, requests: false }),
  }),
  /** Per app, or in `defaults`. */
  app: Object.freeze({
    runtime: 'auto',
    idleTimeoutMs: 60_000,
    startTimeoutMs: 10_000,
    stopTimeoutMs: 5_000,
    queueLimit: 1000,
    maxConnectionAgeMs: 3_600_000,
    responseTimeoutMs: 60_000,
    /** Listen backlog of an app's own `listen` sockets; the kernel clamps it to net.core.somaxconn. */
    backlog: 4096,
  }),
  /** The front listener (`limits`). */
  limits: Object.freeze({
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 300_000,
    maxUrlLength: 8 * 1024,
    maxHeaderSize: 16 * 1024,
    maxHeaders: 100,
  }),
  /** Not configurable: the gateway's own constants, gathered here so they are visible in one place. */
  internal: Object.freeze({
    /** Listen backlog of app sockets and front listeners; the kernel clamps it to net.core.somaxconn. */
    backlog: 4096,
    /** Upstream connections per instance; further requests wait inside undici. */
    upstreamConnections: 128,
    /** Response timeouts in a row after which a running instance is replaced. */
    unresponsiveAfter: 3,
    /** Retry-After of a request that was not allowed to wake its app. */
    asleepRetryAfterSec: 10,
    /** Crash-loop backoff: first delay (from the second crash on), cap, and healthy run that resets it. */
    backoffInitialMs: 1_000,
    backoffMaxMs: 60_000,
    backoffResetAfterMs: 30_000,
    /** Longest line of app output that is logged whole. */
    outputMaxLine: 16 * 1024,
    /** How long an exited instance's output pipes may stay open (held by a grandchild) before we stop waiting. */
    outputDrainMs: 2_000,
    /** After SIGKILL, how long runc gets to notice the exit before it is killed itself. */
    ociKillGraceMs: 5_000,
    /** Longest a runc command (list, kill, delete) may take. */
    runcCommandTimeoutMs: 10_000,
  }),
});
