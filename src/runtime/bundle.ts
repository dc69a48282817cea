import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { AppSpec } from '../config/types.js';
import { DEFAULT_PATH } from './executable.js';

/** The uid and gid of a generated container when the app names none: nobody/nogroup. */
export const NOBODY = 65534;

/** What wakegate needs to control in every bundle it runs. */
export interface BundleOptions {
  /** The container's cgroup (absolute cgroupsPath), so the gateway can read memory and clean up. */
  readonly cgroupsPath: string;
  /** LISTEN_FDNAMES entries of the handed sockets, in fd order; runc passes the env on, not the names. */
  readonly fdNames: readonly string[];
}

/** The parts of an OCI runtime spec that wakegate reads or writes; the rest passes through untouched. */
interface Spec {
  ociVersion?: string;
  process?: { terminal?: boolean; env?: string[]; [key: string]: unknown };
  root?: { path?: string; readonly?: boolean };
  linux?: { cgroupsPath?: string; [key: string]: unknown };
  [key: string]: unknown;
}

const RO_BIND = ['rbind', 'ro', 'nosuid', 'nodev'];
// The kernel interfaces runc's own default spec hides from containers.
const MASKED_PATHS = ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * Writes the bundle an instance of `app` runs from, into `dir` (wiped first), and returns `dir`.
 * A user-supplied bundle keeps its own config, with only the socket plumbing added; otherwise the
 * config is generated from the app spec.
 */
export function writeBundle(dir: string, app: AppSpec, options: BundleOptions): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const spec = app.bundle ? adaptUserSpec(app.bundle, options) : generateSpec(dir, app, options);
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
  return dir;
}

/**
 * The user's config.json with what socket activation needs: no terminal (stdio goes to the gateway log),
 * LISTEN_FDNAMES (runc itself sets LISTEN_FDS and LISTEN_PID=1 when it passes the socket on), our cgroup
 * path, and the rootfs made absolute since the config now lives elsewhere.
 */
function adaptUserSpec(bundle: string, options: BundleOptions): Spec {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Spec;
  const rootPath = spec.root?.path ?? 'rootfs';
  spec.root = { ...spec.root, path: isAbsolute(rootPath) ? rootPath : resolve(bundle, rootPath) };
  const env = (spec.process?.env ?? []).filter((entry) => !entry.startsWith('LISTEN_'));
  spec.process = { ...spec.process, terminal: false, env: [...env, `LISTEN_FDNAMES=${options.fdNames.join(':')}`] };
  spec.linux = { ...spec.linux, cgroupsPath: options.cgroupsPath };
  return spec;
}

/**
 * An empty root for a container of the host's own binaries: the merged-/usr symlinks and the mountpoints
 * (`extra` adds some for another container manager), to be mounted read-only. Returns `rootfs`.
 */
export function makeHostRootfs(rootfs: string, extra: readonly string[] = []): string {
  mkdirSync(rootfs);
  for (const link of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${link}`, join(rootfs, link));
  for (const mountpoint of ['usr', 'etc', 'app', 'tmp', 'proc', 'dev', 'sys', ...extra]) mkdirSync(join(rootfs, mountpoint));
  // runc gives a tmpfs the mode of its mountpoint, ahead of any mode= option.
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  return rootfs;
}

/** The ids a container runs as: the app's, else nobody/nogroup; a uid without a group gets the gid of the same number. */
export function containerUser(app: AppSpec): { uid: number; gid: number } {
  return { uid: app.uid ?? NOBODY, gid: app.gid ?? (app.uid === undefined ? NOBODY : app.uid) };
}

/**
 * A container running the host's own binaries read-only: rootfs is an empty read-only directory with the
 * merged-/usr symlinks, /usr and /etc bound read-only, the app dir read-only at /app, a private /tmp,
 * no network but the handed socket, no capabilities, and the app's limits.
 */
function generateSpec(dir: string, app: AppSpec, options: BundleOptions): Spec {
  const rootfs = makeHostRootfs(join(dir, 'rootfs'));
  const env = Object.entries(app.env).map(([name, value]) => `${name}=${value}`);
  const { uid, gid } = containerUser(app);
  const noCaps: string[] = [];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid, gid, additionalGids: [] },
      args: [...app.command],
      env: [`PATH=${DEFAULT_PATH}`, ...env, `LISTEN_FDNAMES=${options.fdNames.join(':')}`],
      cwd: '/app',
      capabilities: { bounding: noCaps, effective: noCaps, inheritable: noCaps, permitted: noCaps, ambient: noCaps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: fileLimit(), soft: fileLimit() }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: app.name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/usr', type: 'bind', source: '/usr', options: RO_BIND },
      { destination: '/etc', type: 'bind', source: '/etc', options: RO_BIND },
      { destination: '/app', type: 'bind', source: app.dir, options: RO_BIND },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] },
    ],
    linux: {
      // A new network namespace holds only a loopback that is down: the handed socket is the only way out.
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }],
      cgroupsPath: options.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(app.memoryBytes === undefined ? {} : { memory: { limit: app.memoryBytes, swap: app.memoryBytes } }),
        ...(app.pids === undefined ? {} : { pids: { limit: app.pids } }),
        ...(app.cpuWeight === undefined ? {} : { cpu: { shares: sharesFromWeight(app.cpuWeight) } }),
      },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

/**
 * 65536 open files, or the gateway's own hard limit when lower: raising a hard limit needs a capability
 * the gateway may not have (in a container), and runc fails the start if setrlimit is refused.
 */
function fileLimit(): number {
  try {
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return hard === undefined || hard === 'unlimited' ? 65536 : Math.min(65536, Number(hard));
  } catch {
    return 1024;
  }
}

/**
 * cgroup v2 weight (1..10000, default 100) to v1 shares (2..262144, default 1024): the inverse of the
 * conversion runc applies on v2 hosts, so one setting means the same on both.
 */
export function sharesFromWeight(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}
