import { readFileSync } from 'node:fs';

/** What the host says of its memory now. */
export interface MemorySample {
  /** MemAvailable of /proc/meminfo, in bytes. */
  readonly availableBytes: number;
  /** `some avg10` of /proc/pressure/memory (percent of the last 10 s some task stalled on memory); absent without PSI. */
  readonly pressureAvg10?: number;
}

/** Reads the host's memory; the boundary tests replace (CapacityDeps.memory). */
export type MemoryReader = () => MemorySample;

function psi(): number | undefined {
  try {
    const some = /^some avg10=([0-9.]+)/m.exec(readFileSync('/proc/pressure/memory', 'utf8'));
    return some ? Number(some[1]) : undefined;
  } catch {
    // Kernels without CONFIG_PSI (or with psi=0) have no such file: MemAvailable alone decides.
    return undefined;
  }
}

export const hostMemory: MemoryReader = () => {
  const kb = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  // Without MemAvailable (kernels before 3.14) nothing says memory is short: report plenty.
  const availableBytes = kb ? Number(kb[1]) * 1024 : Number.MAX_SAFE_INTEGER;
  const pressureAvg10 = psi();
  return pressureAvg10 === undefined ? { availableBytes } : { availableBytes, pressureAvg10 };
};
