/** What the throughput scenarios read from /proc and set on the processes they load: CPU time, affinity, instances. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { childPids } from './nginx.js';

/** utime + stime, all threads, in clock ticks (fields 14 and 15, counted after the parenthesised comm). */
export function cpuTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    sum += Number(fields[11]) + Number(fields[12]);
  }
  return sum;
}

/** /proc/<pid>/stat counts CPU time in these ticks: they bound the CPU figures' resolution. */
export function clockTicksPerS(): number {
  return Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
}

/** Every thread of each process onto `cpus` (the bench's own affinity for what it loads, all sides alike). */
export function pin(pids: readonly number[], cpus: string): void {
  for (const pid of pids) {
    const r = spawnSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`taskset -a -c -p ${cpus} ${pid} failed: ${r.error?.message ?? r.stderr.trim()}`);
  }
}

/**
 * With 2 CPUs or more, wrk gets CPU 1 (and up) and everything it loads CPU 0: wrk is the heaviest process
 * here, and on a CPU of its own it cannot steal time from one path only. Null on one CPU.
 */
export function pinning(cpus: number): { readonly wrk: string; readonly targets: string } | null {
  return cpus >= 2 ? { wrk: cpus === 2 ? '1' : `1-${cpus - 1}`, targets: '0' } : null;
}

/**
 * The gateway's one instance of `app`. The gateway sets LISTEN_FDNAMES to the app's name, which tells
 * instances of the same command apart (and an instance from any other child of the gateway).
 */
export function instanceOf(gatewayPid: number, app: string): number {
  const match = childPids(gatewayPid).filter((pid) => environ(pid).includes(`LISTEN_FDNAMES=${app}`));
  if (match.length !== 1) throw new Error(`expected one instance of ${app} under the gateway, found ${match.length}`);
  return match[0]!;
}

function environ(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  } catch {
    return []; // exited meanwhile
  }
}
