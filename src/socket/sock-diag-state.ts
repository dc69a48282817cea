/**
 * Whether sock_diag still answers this process, per family, shared by every KernelCounters of one gateway:
 * a refusal is permanent (a seccomp or LSM policy, a kernel without inet_diag or unix_diag), so the switch to
 * /proc/net happens once for all of them, and is reported once.
 */
import { SyscallError } from '../errors.js';

export type DiagFamily = 'tcp' | 'unix';

/** What a switch to /proc/net is reported with. */
export interface DiagSwitch {
  readonly family: DiagFamily;
  readonly errno: string;
  readonly error: SyscallError;
}

/** Errors that mean sock_diag will not work in this process, ever: stop asking. */
const PERMANENT = new Set(['EPERM', 'EACCES', 'EPROTONOSUPPORT', 'EAFNOSUPPORT', 'ENOENT', 'EOPNOTSUPP', 'EINVAL']);

export class SockDiagState {
  readonly #refused = new Map<DiagFamily, SyscallError>();

  /** `onSwitch` hears of each family switched to /proc, unless the other switched before for the same errno. */
  constructor(private readonly onSwitch: (s: DiagSwitch) => void = () => {}) {}

  /** False once `family` was refused for good. */
  answers(family: DiagFamily): boolean {
    return !this.#refused.has(family);
  }

  /** The first permanent refusal, or null while every family answers. */
  get reason(): string | null {
    const [first] = this.#refused;
    return first ? `${first[0]} sock_diag: ${first[1].message}` : null;
  }

  /**
   * A failed dump of `family`. A permanent errno switches that family to /proc for good; any other failure
   * (a timeout, ENOBUFS) costs that one sample only. Errors that are not system errors are bugs: rethrown.
   */
  failed(family: DiagFamily, err: unknown): void {
    if (!(err instanceof SyscallError)) throw err;
    if (!PERMANENT.has(err.errno) || this.#refused.has(family)) return;
    const same = [...this.#refused.values()].some((e) => e.errno === err.errno);
    this.#refused.set(family, err);
    if (!same) this.onSwitch({ family, errno: err.errno, error: err });
  }
}
