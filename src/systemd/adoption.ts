import type { GatewayConfig } from '../config/types.js';
import { closeFd } from '../native/index.js';
import type { Logger } from '../log.js';
import { planAdoption, type AdoptionPlan } from './adoption-plan.js';
import { boundFiles } from './socket-files.js';
import { StoreKeeper } from './store-keeper.js';
import type { SystemdService } from './systemd-service.js';

export interface Adoption {
  readonly plan: AdoptionPlan;
  readonly keeper: StoreKeeper | undefined;
  /** Inodes of the app socket files in runtimeDir/apps that belong to adopted sockets: not stale. */
  readonly keepFiles: ReadonlySet<number>;
}

/**
 * Matches the passed sockets to the config before anything is bound (throws
 * InheritedSocketMismatchError), and releases the gateway's own stored sockets that fit nothing any more.
 * Without a service manager there is no keeper, and the app sockets are bound as they always were.
 */
export async function prepareAdoption(service: SystemdService, config: GatewayConfig, log: Logger): Promise<Adoption> {
  const unix = service.inherited.filter((s) => s.bound.family === 'unix');
  const files = await boundFiles(unix.map((s) => s.inode));
  const plan = planAdoption(service.inherited, config, files);
  for (const s of plan.released) {
    log.warn({ fd: s.fd, name: s.name }, `released stored socket ${s.name}: it fits no configured app socket any more`);
    service.notifier.remove(s.name);
    closeFd(s.fd);
  }
  const adopted = service.inherited.length - plan.released.length;
  if (adopted > 0) log.info({ sockets: service.inherited.filter((s) => !plan.released.includes(s)).map((s) => ({ fd: s.fd, name: s.name })) }, `adopting ${adopted} passed sockets`);
  const keepFiles = new Set([...plan.appHttp.values()].map((s) => files.get(s.inode)).filter((ino): ino is number => ino !== undefined));
  const keeper = service.notifier.active || service.inherited.length > 0 ? new StoreKeeper(plan, service.notifier) : undefined;
  return { plan, keeper, keepFiles };
}
