import { AppRegistry, type ReloadSummary } from './app-registry.js';
import type { Recorder } from './activator/recorder.js';
import type { AppSpec, GatewayConfig } from './config/types.js';
import { TrustedProxies } from './front/forwarded.js';
import { HttpListener, type BoundAddress } from './front/http-listener.js';
import { RequestHandler } from './front/request-handler.js';
import type { Logger } from './log.js';
import { LogRecorder } from './metrics/log-recorder.js';
import type { OciRuntime } from './runtime/oci.js';
import { createRuntimes } from './runtime/runtimes.js';
import type { Runtime } from './runtime/runtime.js';

export interface GatewayOptions {
  readonly log: Logger;
  /** Defaults to the runtime the config names; tests may pass their own. */
  readonly runtimeFor?: (spec: AppSpec) => Runtime;
  readonly recorder?: Recorder;
}

/** Wires the components for one config; holds no policy of its own. */
export class Gateway {
  private config: GatewayConfig;
  private trusted: TrustedProxies;
  private closing: Promise<void> | undefined;

  private constructor(
    config: GatewayConfig,
    private readonly registry: AppRegistry,
    private readonly listener: HttpListener,
    readonly address: BoundAddress,
    private readonly log: Logger,
    private readonly oci: OciRuntime | undefined,
  ) {
    this.config = config;
    this.trusted = new TrustedProxies(config.trustedProxies);
  }

  static async start(config: GatewayConfig, options: GatewayOptions): Promise<Gateway> {
    const { log } = options;
    const runtimes = options.runtimeFor ? undefined : await createRuntimes(config, log.child({ component: 'runtime' }));
    const registry = new AppRegistry(config.runtimeDir, {
      runtimeFor: options.runtimeFor ?? runtimes!.runtimeFor,
      recorder: options.recorder ?? new LogRecorder(log.child({ component: 'activator' })),
      log,
    });
    registry.apply(config, config.shutdownTimeoutMs);
    let gateway: Gateway | undefined;
    const handler = new RequestHandler({
      router: () => registry.router,
      trusted: () => gateway!.trusted,
      log: log.child({ component: 'front' }),
      logRequests: () => gateway!.config.log.requests,
    });
    const listener = new HttpListener(handler, log.child({ component: 'front' }));
    let address: BoundAddress;
    try {
      address = await listener.listen(config.listen.http);
    } catch (err) {
      await registry.closeAll(0);
      throw err;
    }
    gateway = new Gateway(config, registry, listener, address, log, runtimes?.oci);
    log.info({ address, apps: Object.keys(config.apps).length, runtimeDir: config.runtimeDir }, 'wakegate listening');
    return gateway;
  }

  get apps(): AppRegistry {
    return this.registry;
  }

  /**
   * Applies a new config (the caller has validated it). The listen address and runtimeDir cannot move
   * while running; a change to them is reported and ignored until the next start.
   */
  reload(config: GatewayConfig): ReloadSummary & { removal: Promise<void> } {
    for (const key of ['listen', 'runtimeDir', 'admin', 'oci'] as const) {
      if (JSON.stringify(config[key]) !== JSON.stringify(this.config[key])) {
        this.log.warn({ key }, `${key} changed; it takes effect only after a restart, ignoring`);
      }
    }
    const result = this.registry.apply(config, config.shutdownTimeoutMs);
    this.config = config;
    this.trusted = new TrustedProxies(config.trustedProxies);
    this.log.info({ added: result.added, removed: result.removed, changed: result.changed }, 'config reloaded');
    return result;
  }

  /** Stops accepting, lets in-flight requests finish within shutdownTimeout, stops every instance. */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      const grace = this.config.shutdownTimeoutMs;
      this.log.info({ graceMs: grace }, 'shutting down');
      await Promise.all([this.listener.close(grace), this.registry.closeAll(grace)]);
      this.oci?.close();
      this.log.info('shutdown complete');
    })();
    return this.closing;
  }
}
