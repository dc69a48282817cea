/**
 * Hosts for a test, each a network namespace joined to the root namespace by a veth pair with a /30 of its
 * own in 10.213.0.0/16. Nothing is routed or forwarded: the root namespace reaches each host on the link's
 * own subnet, so traffic never leaves the machine. Names carry the test's pid, so runs cannot collide, and
 * everything, processes in the namespaces included, is removed with the test even when it fails.
 */
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';

export interface NetnsHost {
  /** The namespace's name, for `ip netns exec`. */
  readonly ns: string;
  /** The host's address, as the root namespace reaches it. */
  readonly address: string;
  /** The root namespace's end of the link. */
  readonly gateway: string;
}

const KILL_WAIT_MS = 5_000;

/** Makes `count` hosts (at most 63), removed at the end of `t`. Needs root and iproute2. */
export function netnsHosts(t: Test, count: number): NetnsHost[] {
  if (count > 63) throw new Error('at most 63 hosts fit in one /24 of /30s');
  const pid = process.pid;
  // The third octet from the pid: two runs at once (pids equal modulo 256 aside) use different subnets.
  const subnet = `10.213.${pid % 256}`;
  const hosts: NetnsHost[] = [];
  t.teardown(() => removeHosts(hosts));
  for (let i = 0; i < count; i++) {
    const ns = `wgtier${pid}h${i}`;
    // veth names are at most 15 characters: "wgv" + pid (≤ 7 digits) + index + side.
    const outer = `wgv${pid}${i}r`;
    const inner = `wgv${pid}${i}n`;
    const host = { ns, address: `${subnet}.${4 * i + 2}`, gateway: `${subnet}.${4 * i + 1}` };
    ip('netns', 'add', ns);
    hosts.push(host);
    ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', ns);
    ip('addr', 'add', `${host.gateway}/30`, 'dev', outer);
    ip('link', 'set', outer, 'up');
    ip('-n', ns, 'addr', 'add', `${host.address}/30`, 'dev', inner);
    ip('-n', ns, 'link', 'set', inner, 'up');
    // The gateway's app sockets are Unix, but its instances and the admin client use the loopback too.
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  return hosts;
}

/** argv that runs `command` inside the host's namespace. */
export function inHost(host: NetnsHost, command: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', host.ns, ...command];
}

/** The pids running in the host's namespace. */
export function hostPids(host: NetnsHost): number[] {
  const r = spawnSync('ip', ['netns', 'pids', host.ns], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

/** SIGKILLs whatever still runs in each namespace, then deletes it; its veth pair goes with it. */
async function removeHosts(hosts: readonly NetnsHost[]): Promise<void> {
  for (const host of hosts) {
    const deadline = Date.now() + KILL_WAIT_MS;
    for (let pids = hostPids(host); pids.length > 0 && Date.now() < deadline; pids = hostPids(host)) {
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // Already gone between the listing and the kill.
        }
      }
      await sleep(50);
    }
    spawnSync('ip', ['netns', 'del', host.ns]);
  }
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
}
