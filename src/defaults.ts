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
    /** How often the kernel counters of running socket-mode apps are read for the idle stop. */
    sampleIntervalMs: 1_000,
    /** Front processes; 1 serves the front in the gateway's own process, with no IPC (see README, Many cores). */
    workers: 1,
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
    /**
     * In-flight requests per instance. High enough that a normal app never queues, and a bound that slow
     * readers (each holding one upstream connection until sendTimeout cuts it) can reach only in numbers.
     */
    concurrency: 1000,
    /** Listen backlog of an app's own `listen` sockets; the kernel clamps it to net.core.somaxconn. */
    backlog: 4096,
    /**
     * CPU share of one core (as written in the config) above which an instance with an open connection the
     * kernel gives no byte counts for (Unix sockets) counts as busy: well above an idle runtime's timers.
     */
    busyCpu: '2%',
    /** A browser navigation that has waited this long for a cold start gets the waiting page (see front/waiting-page.ts). */
    waitingPage: Object.freeze({ afterMs: 1_000 }),
  }),
  /** Per entry of an app's `listen` (its object form). */
  listenSocket: Object.freeze({
    /** Of a `unix:` socket file: only the gateway's uid (and root) may connect. */
    mode: '0600',
  }),
  /** The front listener (`limits`). */
  limits: Object.freeze({
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 300_000,
    maxUrlLength: 8 * 1024,
    maxHeaderSize: 16 * 1024,
    maxHeaders: 100,
    /**
     * Half the default responseTimeout: a client that takes no data this long is gone or hostile, and an app
     * that blocks on writing to it is freed before its other requests could look unanswered.
     */
    sendTimeoutMs: 30_000,
  }),
  /** `wakegate haproxy-config` (src/haproxy-config.ts): what the generated haproxy.cfg uses unless told otherwise. */
  haproxy: Object.freeze({
    /** `--bind`: where HAProxy's HTTP frontend listens; socket-mode frontends take its host with their own port. */
    bind: ':80',
    /**
     * `--balance-factor`: hash-balance-factor, the bounded load of consistent hashing. A host with more than
     * 1.5 times the average requests in flight sends the next one on (which may cold-start a tenant there).
     */
    balanceFactor: 150,
    /** A dead host that does not refuse (no RST) costs this much before the retry goes to the next host. */
    connectTimeoutMs: 2_000,
    /** Health check of each wakegate's admin /healthz: period, and failures (successes) to mark it down (up). */
    checkIntervalMs: 1_000,
    checkFall: 2,
    checkRise: 2,
    /** Connect retries; each goes to another host (`option redispatch 1`). */
    retries: 2,
    /** Client and server inactivity of the socket-mode (TCP) frontends, and of an app with responseTimeout 0. */
    tcpIdleTimeoutMs: 3_600_000,
    /** The HTTP frontend's client inactivity. */
    clientTimeoutMs: 60_000,
  }),
  /** Not configurable: the gateway's own constants, gathered here so they are visible in one place. */
  internal: Object.freeze({
    /** Listen backlog of app sockets and front listeners; the kernel clamps it to net.core.somaxconn. */
    backlog: 4096,
    /** capacity.minAvailable: how often memory is read while running, to evict when it is short. */
    capacityCheckIntervalMs: 1_000,
    /** capacity.minAvailable: PSI `some avg10` (percent) at or above which memory counts as short too. */
    capacityPressureAvg10: 40,
    /** Retry-After of a start refused for want of capacity (nothing could be evicted). */
    capacityRetryAfterMs: 1_000,
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
    /** Lines of app output (stdout and stderr together) logged per second per instance, and the burst allowed. */
    outputLinesPerSec: 100,
    outputBurstLines: 200,
    /** How often a suppressed event (dropped output lines, refused connections) is summed up in one log line. */
    logSummaryIntervalMs: 1_000,
    /**
     * File descriptors kept for the gateway itself (its own sockets, the admin's clients, runtime commands),
     * and per instance while it exists (stdout and stderr pipes, pidfd, one spare), when the front's
     * connection cap is sized from RLIMIT_NOFILE; the apps' listening sockets are counted as they are.
     */
    fdReserve: 128,
    fdReservePerInstance: 4,
    /** How long after bulk work (start-up, reload, a scrape) the native heap is trimmed (src/heap-trim.ts). */
    heapTrimDelayMs: 2_000,
    /** Two stop signals this close together are one (Ctrl-C reaches `npm start` and the gateway both). */
    signalDedupMs: 500,
    /** How long a cgroup freeze may take before the kill goes ahead without it (a task in D state). */
    cgroupFreezeMs: 1_000,
    /** How long a killed cgroup may take to empty before its directories are left for the next start-up. */
    cgroupEmptyMs: 5_000,
    /** How often the accept queues of a socket-woken app are read while it starts, to see its first accept. */
    acceptPollMs: 25,
    /** The waiting page reloads itself after this long (`Refresh`; also its `Retry-After`). */
    waitingRefreshSec: 1,
    /**
     * A reload of the waiting page (a navigation past `after`) is held this long for the start to end before
     * it gets the page again: the app's page shows as soon as the app answers when that happens during a
     * hold (three seconds in four), and a browser asks every four seconds or so, even with `after: 0`.
     */
    waitingReloadHoldMs: 3_000,
    /** Largest waiting page template (`waitingPage.file`) read at load: a page, not a site. */
    waitingTemplateMaxBytes: 64 * 1024,
    /** Under systemd: how often STATUS= is brought up to date (sent only when it changed). */
    statusIntervalMs: 1_000,
    /** Under systemd: WATCHDOG=1 every this share of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises. */
    watchdogFraction: 0.5,
    /**
     * At shutdown, how long an idle keep-alive connection stays open: a client that sends its next request
     * within it gets an answer with `Connection: close` instead of a connection reset under its request.
     */
    keepAliveCloseGraceMs: 500,
    /** runtime systemd: bound on one D-Bus call to systemd, and on the job a start or stop queues. */
    dbusCallTimeoutMs: 10_000,
    dbusJobTimeoutMs: 10_000,
    /** runtime systemd: reconnection to a lost system bus, first delay and cap (doubling in between). */
    dbusReconnectInitialMs: 100,
    dbusReconnectMaxMs: 5_000,
    /** runtime systemd: how long a unit may take to be collected once its processes are gone. */
    dbusUnitGoneMs: 5_000,
    /**
     * runtime systemd on a v1 memory controller: how long an exit by SIGKILL waits for the kernel's last
     * word on the scope's cgroup (its removal) when one notification left OOM and removal undecided.
     */
    scopeOomSettleMs: 1_000,
    /** runtime systemd: journald's stream socket, which tenants' stdout and stderr are connected to (as StandardOutput=journal). */
    journalStdoutSocket: '/run/systemd/journal/stdout',
    /**
     * runtime systemd: the syslog priority of a tenant's stdout lines (info) and of its stderr lines (err, as
     * docker's and podman's journald drivers log stderr); a line may set its own with a `<N>` prefix.
     */
    journalStdoutPriority: 6,
    journalStderrPriority: 3,
    /**
     * Upstream: the longest response head (status line and fields) or trailer section an app may send, as
     * node:http's own limit on the heads it parses; longer is a 502. And how long an idle upstream
     * connection is kept for reuse (as the undici pool kept them before).
     */
    upstreamMaxHeadSize: 16 * 1024,
    upstreamKeepAliveMs: 4_000,
    /**
     * Period of the one sweep that checks every response timeout (response-sweep.ts): a timeout is never
     * early, and late by up to this much (twice this after body data, whose arrival the sweep notes).
     */
    responseSweepMs: 25,
    /**
     * workers >= 2: how long a worker's in-flight count for an app must stay at 0 before it tells the primary
     * it is quiet (so steady traffic sends no messages); the idle countdown starts after it.
     */
    workerQuietMs: 250,
    /** workers >= 2: how long the primary waits for a worker's answer (park, tallies) before it goes without. */
    workerReplyMs: 5_000,
    /** workers >= 2: how long a worker that does not exit after its shutdown grace gets before SIGKILL. */
    workerExitGraceMs: 2_000,
    /** workers >= 2: how often the primary asks each worker whether its event loop still turns. */
    workerPingIntervalMs: 2_000,
    /**
     * workers >= 2: a worker that leaves a ping unanswered this long is hung (a loop that never yields, a
     * SIGSTOP): it is killed and replaced, as one that dies is, and only its own requests are lost.
     */
    workerHangMs: 10_000,
    /** Host headers remembered per router with the app they resolved to; past this many the memory starts afresh. */
    hostCacheSize: 1024,
  }),
});
