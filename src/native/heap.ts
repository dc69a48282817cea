/** The facade's heap call: giving freed native memory back to the kernel. */
import { addon } from './addon.js';

/** glibc's malloc_trim(0); true when memory went back to the kernel. Never throws. */
export function trimHeap(): boolean {
  return addon().mallocTrim() === 1;
}
