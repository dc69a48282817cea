/** The validated, frozen configuration. Produced only by `loadConfig`/`parseConfig` (config/load.ts). */

export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export type RuntimeKind = 'process' | 'oci' | 'systemd' | 'nspawn' | 'auto';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Requests that must not wake a stopped app (monitors, health checks), and what they get instead. */
export interface WakeIgnore {
  /** Exact paths, or prefixes when they end in `*`. */
  readonly paths: readonly string[];
  /** Lower-cased substrings of the User-Agent. */
  readonly userAgents: readonly string[];
  /** What such a request gets while the app is stopped; absent: 503 WG_ERR_ASLEEP with Retry-After. */
  readonly response?: { readonly status: number; readonly body: string; readonly retryAfterSec?: number };
}

/** What a browser navigation sees while the app's cold start lasts (front/waiting-page.ts); absent when `waitingPage: false`. */
export interface WaitingPageSpec {
  /** How long a navigation waits for the cold start before it gets the page. */
  readonly afterMs: number;
  /** The template (`waitingPage.file`), read at load; absent: the built-in page. */
  readonly file?: string;
  readonly template?: string;
}

/** One of an app's own listening sockets (`apps.<name>.listen`), handed to its instances after the HTTP app socket. */
export interface AppListen {
  readonly address: ListenAddress;
  /** Its LISTEN_FDNAMES entry: 1-255 of [A-Za-z0-9_.-]; the app name unless configured. */
  readonly name: string;
  /** `unix:` only: permission bits of the socket file (connect needs write); 0600 unless configured. */
  readonly mode?: number;
  /** `unix:` only: gid of the socket file, resolved from a name at load; absent: the gateway's group. */
  readonly group?: number;
}

export interface AppSpec {
  /** The key under `apps`; matches /^[a-z0-9][a-z0-9_-]{0,62}$/ so it is safe in paths and container ids. */
  readonly name: string;
  /**
   * Lower-cased host names without port; either exact (`a.example`) or a wildcard (`*.example`). Empty for an
   * app reached only through its own `listen` sockets; it then has no HTTP app socket either.
   */
  readonly hosts: readonly string[];
  /** The app's own sockets (socket mode), in config order; empty for an HTTP-only app. */
  readonly listen: readonly AppListen[];
  /** Listen backlog of those sockets; the kernel clamps it to net.core.somaxconn. */
  readonly backlog: number;
  /** argv; command[0] is looked up in PATH by the runtime when it has no slash. Empty for a bundle app. */
  readonly command: readonly string[];
  /** Absolute path of the app's directory (resolved against the config file's directory); the bundle for a bundle app. */
  readonly dir: string;
  /** A user-supplied OCI bundle (a directory with config.json); its config says what to run. */
  readonly bundle?: string;
  /** Apps woken with this one and held up while it runs (their names, checked to exist and form no cycle); absent when none. */
  readonly dependsOn?: readonly string[];
  /** Exactly the environment the app gets, besides PATH and LISTEN_*. */
  readonly env: Readonly<Record<string, string>>;
  readonly runtime: RuntimeKind;
  /** Numeric ids, resolved from names at load. Undefined: the gateway's own (process) or 65534 (oci). */
  readonly uid?: number;
  readonly gid?: number;
  readonly idleTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly queueLimit: number;
  /** Requests in flight per instance (its breaker); more wait, up to `queueLimit`. Also its upstream connection count. */
  readonly concurrency: number;
  readonly maxConnectionAgeMs: number;
  /**
   * Longest wait for the instance's response head, and longest stall of its response body; 0 disables.
   * Absent when not configured (like the container limits); the front then applies its built-in 60 s.
   */
  readonly responseTimeoutMs?: number;
  /** Quiet time after which a running instance is frozen (cgroup freezer, runc pause); absent: never frozen. Below idleTimeoutMs. */
  readonly freezeAfterMs?: number;
  /** Container limits (oci runtime). */
  readonly memoryBytes?: number;
  readonly pids?: number;
  readonly cpuWeight?: number;
  readonly wakeIgnore?: WakeIgnore;
  readonly waitingPage?: WaitingPageSpec;
  /** Fraction of one core (0.02 for `2%`) above which an instance with a byte-less (Unix) connection is busy. */
  readonly busyCpu: number;
}

/** What one client may cost the front listener, whatever app it asks for (node:http server options and more). */
export interface Limits {
  /** The request head must be complete this long after the connection (or the previous request) began; 0: none. */
  readonly headersTimeoutMs: number;
  /** The whole request, body included, must have arrived this long after it began; 0: none. */
  readonly requestTimeoutMs: number;
  /** Bytes of request target (path and query); longer gets 414. */
  readonly maxUrlLength: number;
  /** Bytes of request line and header names and values (node:http's maxHeaderSize); more gets 431. */
  readonly maxHeaderSize: number;
  /** Header fields per request; more gets 431 (node:http would silently drop the excess). */
  readonly maxHeaders: number;
  /** A response that gets no data out to its client this long is cut and its upstream request aborted; 0: none. */
  readonly sendTimeoutMs: number;
}

/** `capacity`: how many instances may exist at once, and how much memory the host must keep available. Absent keys: no limit. */
export interface CapacitySpec {
  readonly maxRunning?: number;
  /** Compared with MemAvailable (/proc/meminfo). */
  readonly minAvailableBytes?: number;
}

export interface GatewayConfig {
  /** Absolute path of the file this came from (for messages and reload). */
  readonly file: string;
  readonly listen: { readonly http: ListenAddress };
  readonly admin?: { readonly listen: ListenAddress; readonly token?: string };
  readonly runtimeDir: string;
  /**
   * The gid that may connect to the app sockets (a front proxy's own, e.g. nginx's): runtimeDir and apps/
   * become 0710 and the sockets 0660 with this group. Absent: 0700 and 0600, the gateway's uid alone.
   */
  readonly socketGroup?: number;
  /** IPs or CIDRs whose X-Forwarded-* headers are trusted and extended rather than replaced. */
  readonly trustedProxies: readonly string[];
  readonly shutdownTimeoutMs: number;
  /** Period of the socket-mode activity sampler. */
  readonly sampleIntervalMs: number;
  /** Front processes serving `listen.http` (1: the gateway's own process, no IPC); takes effect at start only. */
  readonly workers: number;
  readonly log: { readonly level: LogLevel; readonly requests: boolean };
  /** Front listener limits; they take effect at start only (like `listen`). */
  readonly limits: Limits;
  /** The OCI runtime binary (absolute path), configured or found on PATH at load; absent when none exists. */
  readonly oci: { readonly runtime?: string };
  /** systemd-nspawn (absolute path) as found on PATH at load, and a user-supplied root directory for its containers. */
  readonly nspawn?: { readonly binary?: string; readonly directory?: string };
  /** Eviction under memory pressure (src/capacity/); absent: no limit. */
  readonly capacity?: CapacitySpec;
  readonly apps: Readonly<Record<string, AppSpec>>;
}
