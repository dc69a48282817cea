/**
 * What a containerised app costs while it runs and after its idle stop, read where the kernel accounts
 * it: the container's memory cgroup. After the stop the cgroup is gone, so the app's share is zero.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { Cgroups } from '../src/runtime/cgroup.js';
import { GatewayProcess, HELLO_DIR } from './gateway-process.js';
import { markdownTable, mb } from './stats.js';

export interface ContainerMemoryResult {
  readonly limitBytes: number;
  /** memory.usage_in_bytes (v1) or memory.current (v2) a second after the first response. */
  readonly runningBytes: number;
  /** The RSS part of it (memory.stat rss / anon), without page cache. */
  readonly runningRssBytes: number | null;
  readonly cgroupDir: string;
  readonly cgroupExistsAfterStop: boolean;
  /** The command an operator runs to read the same number. */
  readonly command: string;
}

const LIMIT = 128 * 1024 ** 2;

export async function containerMemory(runc: string): Promise<ContainerMemoryResult> {
  const hello = { hosts: ['hello.localhost'], command: ['node', 'server.mjs'], dir: HELLO_DIR, runtime: 'oci', idleTimeout: '2s', memory: LIMIT };
  const gateway = GatewayProcess.start({ hello }, { oci: { runtime: runc } });
  try {
    const { port } = await gateway.ready();
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { host: 'hello.localhost' } });
    await res.body.dump();
    const { line } = await gateway.waitFor((l) => l.result === 'ok');
    const id = String(line.instance);
    const cgroups = new Cgroups(join(gateway.dir, 'run'));
    const dir = cgroups.memoryDir(id);
    await sleep(1000);
    const runningBytes = cgroups.memoryBytes(id) ?? 0;
    const stat = readFileSync(join(dir, 'memory.stat'), 'utf8');
    const rss = /^(?:total_rss|anon) (\d+)$/m.exec(stat)?.[1];
    await gateway.waitFor((l) => l.reason === 'idle');
    const file = cgroups.version === 2 ? 'memory.current' : 'memory.usage_in_bytes';
    return {
      limitBytes: LIMIT,
      runningBytes,
      runningRssBytes: rss === undefined ? null : Number(rss),
      cgroupDir: dir,
      cgroupExistsAfterStop: existsSync(dir),
      command: `cat ${join(dir, file)}`,
    };
  } finally {
    await gateway.stop();
  }
}

export function renderContainerMemory(m: ContainerMemoryResult): string[] {
  return [
    `### Container memory, read from its cgroup (\`${m.command}\`)`,
    markdownTable(
      ['when', 'cgroup usage MB', 'of which RSS MB'],
      [
        ['running, 1 s after its first response', mb(m.runningBytes), m.runningRssBytes === null ? '-' : mb(m.runningRssBytes)],
        ['after the idle stop', m.cgroupExistsAfterStop ? 'cgroup still there' : '0 (cgroup removed)', '0'],
      ],
    ),
  ];
}
