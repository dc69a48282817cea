/**
 * The sockets a service manager passes (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), taken as sd_listen_fds
 * with unset_environment does: for this process only, from fd 3, each marked close-on-exec (no instance
 * may inherit one it was not handed), the variables removed whatever the outcome; then each checked to be
 * a listening stream socket of a family the gateway serves.
 */
import { InheritedSocketError } from '../errors.js';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, getSockName, setCloexec, socketInfo, type SockName } from '../native/index.js';
import { socketInode } from '../socket/kernel-counters.js';

/** SD_LISTEN_FDS_START. */
const FIRST_FD = 3;

export interface InheritedSocket {
  readonly fd: number;
  /** Its LISTEN_FDNAMES entry; `unknown` when none is given. */
  readonly name: string;
  /** What it is bound to; a Unix socket's path is as its binder gave it to bind(2). */
  readonly bound: SockName;
  /** st_ino of the socket (sockfs), as sock_diag reports it. */
  readonly inode: number;
}

const FAMILIES = new Map([
  [AF_INET, 'inet'],
  [AF_INET6, 'inet6'],
  [AF_UNIX, 'unix'],
]);

/** Takes the passed sockets out of `env` (process.env by default). Throws InheritedSocketError. */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): InheritedSocket[] {
  const { LISTEN_PID: listenPid, LISTEN_FDS: listenFds, LISTEN_FDNAMES: listenNames } = env;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (listenPid === undefined || listenFds === undefined) return [];
  if (!/^[1-9]\d*$/.test(listenPid)) throw new InheritedSocketError(-1, 'unknown', 'environment', `LISTEN_PID=${JSON.stringify(listenPid)} is not a pid`);
  // Meant for a parent that exec'ed us without clearing them, or for another process: not ours.
  if (Number(listenPid) !== pid) return [];
  if (!/^\d+$/.test(listenFds) || Number(listenFds) > 65_536) throw new InheritedSocketError(-1, 'unknown', 'environment', `LISTEN_FDS=${JSON.stringify(listenFds)} is not a count of fds`);
  const count = Number(listenFds);
  const fds = Array.from({ length: count }, (_, i) => FIRST_FD + i);
  // All of them first, before any check can throw: none may leak into an instance.
  for (const fd of fds) setCloexec(fd);
  // An empty LISTEN_FDNAMES is what some managers pass for "no names" (systemd-nspawn --as-pid2 does).
  const names = listenNames === undefined || listenNames === '' ? fds.map(() => 'unknown') : listenNames.split(':');
  if (names.length !== count) {
    throw new InheritedSocketError(-1, 'unknown', 'environment', `LISTEN_FDNAMES has ${names.length} names for LISTEN_FDS=${count}`);
  }
  return fds.map((fd, i) => inspect(fd, names[i] || 'unknown'));
}

function inspect(fd: number, name: string): InheritedSocket {
  let info;
  try {
    info = socketInfo(fd);
  } catch (err) {
    throw new InheritedSocketError(fd, name, 'not-socket', `it is not a socket (${(err as { errno?: string }).errno ?? String(err)})`);
  }
  if (info.type !== SOCK_STREAM) throw new InheritedSocketError(fd, name, 'not-stream', `it is not a stream socket (SOCK_* ${info.type}); ListenStream= makes one`);
  if (!info.listening) throw new InheritedSocketError(fd, name, 'not-listening', 'it is not listening (Accept=no in the socket unit passes the listener)');
  if (!FAMILIES.has(info.domain)) throw new InheritedSocketError(fd, name, 'family', `its address family ${info.domain} is none of inet, inet6, unix`);
  return { fd, name, bound: getSockName(fd), inode: socketInode(fd) };
}

/** As the config writes addresses: `tcp:127.0.0.1:8080`, `tcp:[::1]:80`, `unix:/run/x.sock`. */
export function boundText(bound: SockName): string {
  if (bound.family === 'unix') return `unix:${bound.address || '(unnamed or abstract)'}`;
  return `tcp:${bound.family === 'inet6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
}
