/**
 * Where wakegate's cgroup tree starts. Outside systemd it is the hierarchy's root, so that runc's absolute
 * cgroupsPath and the process runtime's directories sit in one known place (`/wakegate/<scope>`). Under
 * systemd it is the service's own cgroup, so that `systemctl stop` (which kills what is left in the unit's
 * cgroup) also reaches every tenant; that needs `Delegate=yes` in the unit, as units/wakegate.service has:
 * without it systemd owns that subtree and may move or remove what the gateway creates there.
 *
 * Detection is deliberately simple: systemd sets INVOCATION_ID for every unit it starts, and the unit's
 * cgroup is the `name=systemd` line (v1, hybrid) or the `0::` line (v2) of /proc/self/cgroup. A gateway
 * run by hand from a login shell has no INVOCATION_ID and keeps the root, as do tests.
 */
export interface CgroupBase {
  /** Relative to each hierarchy's mount, without leading or trailing slash; '' for the root. */
  readonly path: string;
  readonly delegated: boolean;
}

export function cgroupBase(selfCgroup: string, version: 1 | 2, env: NodeJS.ProcessEnv): CgroupBase {
  if (!env.INVOCATION_ID) return { path: '', delegated: false };
  const wanted = version === 2 ? '' : 'name=systemd';
  for (const line of selfCgroup.split('\n')) {
    const [id, controllers, path] = splitLine(line);
    if (path === undefined) continue;
    if (version === 2 ? id === '0' && controllers === '' : controllers === wanted) {
      const trimmed = path.replace(/^\/+|\/+$/g, '');
      // v2: a gateway that moved itself into the `gateway` leaf (below) and was restarted in place
      // (not by systemd) finds itself there; its base is still the service's cgroup.
      const base = version === 2 ? trimmed.replace(/\/gateway$/, '') : trimmed;
      return { path: base, delegated: base !== '' };
    }
  }
  return { path: '', delegated: false };
}

/** `hierarchy-id:controller-list:path`; the path may itself contain ':'. */
function splitLine(line: string): [string, string, string | undefined] {
  const first = line.indexOf(':');
  const second = first < 0 ? -1 : line.indexOf(':', first + 1);
  if (second < 0) return ['', '', undefined];
  return [line.slice(0, first), line.slice(first + 1, second), line.slice(second + 1)];
}

/** The leaf a delegated v2 gateway moves itself into: v2 allows processes only in leaves of a tree with controllers. */
export const GATEWAY_LEAF = 'gateway';
