/**
 * Which passed socket serves which configured address (the adoption rule of the README's "Run it under
 * systemd"): by name where the name says (`http`, `admin`, `app.<name>...`), by bound address otherwise.
 * Decided whole before anything is bound, so a mismatch refuses start-up having changed nothing.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AppListen, GatewayConfig, ListenAddress } from '../config/types.js';
import { InheritedSocketMismatchError } from '../errors.js';
import type { SockName } from '../native/index.js';
import { addressText } from '../socket/listen-socket.js';
import { addressHash, isOwnStoreName, parseFdName } from './fd-names.js';
import { boundText, type InheritedSocket } from './listen-fds.js';
import { isFileOf } from './socket-files.js';

export interface AdoptionPlan {
  readonly http: InheritedSocket | undefined;
  readonly admin: InheritedSocket | undefined;
  /** By app name: the passed HTTP app socket, whose file in runtimeDir/apps is still the socket's. */
  readonly appHttp: ReadonlyMap<string, InheritedSocket>;
  /** By `<app> <address as configured>`. */
  readonly appListen: ReadonlyMap<string, InheritedSocket>;
  /** The gateway's own fd-store entries that fit nothing any more (an app removed meanwhile): closed and removed from the store. */
  readonly released: readonly InheritedSocket[];
}

export function appListenKey(app: string, entry: AppListen): string {
  return `${app} ${addressText(entry.address)}`;
}

/**
 * `files` maps a socket's inode to the inode of the file it is bound to (see boundFiles). Throws
 * InheritedSocketMismatchError for a passed socket that fits no configured address, or whose name points
 * at an address it is not bound to.
 */
export function planAdoption(sockets: readonly InheritedSocket[], config: GatewayConfig, files: ReadonlyMap<number, number>): AdoptionPlan {
  const plan = { http: undefined as InheritedSocket | undefined, admin: undefined as InheritedSocket | undefined, appHttp: new Map<string, InheritedSocket>(), appListen: new Map<string, InheritedSocket>(), released: [] as InheritedSocket[] };
  const front: Array<['http' | 'admin', ListenAddress | undefined]> = [
    ['http', config.listen.http],
    ['admin', config.admin?.listen],
  ];
  const listens = Object.values(config.apps).flatMap((app) => app.listen.map((entry) => ({ app: app.name, entry, key: appListenKey(app.name, entry) })));
  const unnamed: InheritedSocket[] = [];
  const mismatch = (s: InheritedSocket, expected?: string): InheritedSocketMismatchError => new InheritedSocketMismatchError(s.fd, s.name, boundText(s.bound), expected);
  const release = (s: InheritedSocket): void => void plan.released.push(s);
  for (const s of sockets) {
    const name = parseFdName(s.name);
    if (name.kind === 'front') {
      const address = name.which === 'http' ? config.listen.http : config.admin?.listen;
      if (!address) throw mismatch(s, 'no admin.listen');
      if (!sameAddress(address, s.bound) || plan[name.which]) throw mismatch(s, listenText(address));
      plan[name.which] = s;
    } else if (name.kind === 'app-http') {
      const app = config.apps[name.app];
      const path = join(config.runtimeDir, 'apps', `${name.app}.sock`);
      // Ours, from the store: if the app lost its hosts, or its file is gone, the socket is no use.
      if (app && app.hosts.length > 0 && s.bound.family === 'unix' && !plan.appHttp.has(name.app) && isFileOf(path, files.get(s.inode))) plan.appHttp.set(name.app, s);
      else release(s);
    } else if (name.kind === 'app-listen' || name.kind === 'app') {
      const candidates = listens.filter((l) => l.app === name.app && !plan.appListen.has(l.key));
      const found = candidates.find((l) => (name.kind === 'app' || addressHash(addressText(l.entry.address)) === name.hash) && sameAddress(l.entry.address, s.bound));
      if (found && (found.entry.address.kind !== 'unix' || isFileOf(found.entry.address.path, files.get(s.inode)) || name.kind === 'app')) plan.appListen.set(found.key, s);
      else if (isOwnStoreName(name)) release(s);
      else throw mismatch(s, candidates.length ? candidates.map((l) => addressText(l.entry.address)).join(' or ') : `no listen sockets for app ${name.app}`);
    } else unnamed.push(s);
  }
  // By address alone: the front first, then the apps' own sockets.
  for (const s of unnamed) {
    const frontHit = front.find(([which, address]) => address && !plan[which] && sameAddress(address, s.bound));
    if (frontHit) {
      plan[frontHit[0]] = s;
      continue;
    }
    const hit = listens.find((l) => !plan.appListen.has(l.key) && sameAddress(l.entry.address, s.bound));
    if (!hit) throw mismatch(s);
    plan.appListen.set(hit.key, s);
  }
  return plan;
}

function listenText(address: ListenAddress): string {
  return addressText(address);
}

/** Port 0 in the config means "any port": the kernel chose it, for the first gateway. */
export function sameAddress(want: ListenAddress, got: SockName): boolean {
  if (want.kind === 'unix') return got.family === 'unix' && (got.address === want.path || got.address === resolved(want.path));
  if (got.family === 'unix') return false;
  const host = canonicalIp(want.host);
  return host === got.address && (want.port === 0 || want.port === got.port);
}

/** As inet_ntop writes it (lower case, longest zero run compressed), which is what getsockname gives. */
function canonicalIp(host: string): string {
  if (!host.includes(':')) return host;
  try {
    return new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host;
  }
}

/** A `listen` socket is bound with its directory resolved (see ListenSocket). */
function resolved(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return path;
  }
}
