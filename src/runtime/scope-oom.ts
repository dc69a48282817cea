import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import { eventfd, pollReadable, type ExitStatus, type PollHandle } from '../native/index.js';
import { delay } from './stop-sequence.js';

/** Where systemd mounts the v1 memory hierarchy on a hybrid or legacy host. */
const MEMORY_V1 = '/sys/fs/cgroup/memory';

/** Reads and resets an eventfd's count; 0 when nothing was signalled since. */
function drain(fd: number): number {
  const count = Buffer.alloc(8);
  try {
    return readSync(fd, count, 0, 8, null) === 8 ? Number(count.readBigUInt64LE()) : 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
    throw err;
  }
}

/**
 * OOM kills in a scope whose memory limit sits on the v1 memory controller (hybrid and legacy hosts), where
 * systemd never reports them: it reads `oom_kill` from cgroup2's memory.events only, and its scope ends
 * `success`. The counter is in the scope's v1 memory.oom_control, but systemd removes that cgroup as soon
 * as the scope's last process exits, at the same moment the pidfd reports the exit: read then, it is as
 * often gone as not. So the kernel is asked to tell: an eventfd registered in cgroup.event_control for
 * memory.oom_control is signalled when the OOM killer is invoked, before it kills, and once more when the
 * cgroup is removed. Any signal while the cgroup still exists, or two once it is gone, is an OOM. The one
 * ambiguous case (one signal, cgroup gone: the OOM's, or the removal's) arises only when the exit outran
 * the watch; an OOM victim dies of SIGKILL, so only then is the removal's signal awaited (bounded).
 */
export class ScopeOomWatch {
  private signals = 0;
  private oom = false;
  private gone = false;
  private woken?: () => void;
  private readonly poll: PollHandle;

  private constructor(
    private readonly event: number,
    private readonly control: number,
  ) {
    this.poll = pollReadable(event, () => this.take());
  }

  /**
   * Watches the v1 memory cgroup that systemd made for `unit`, where `pid` now is; undefined where there is
   * none (cgroup2 hosts, where systemd reports `oom-kill` itself, or a v1 memory controller systemd did not
   * apply) or where the kernel refuses the registration (logged: the exit is still reported, as killed).
   */
  static open(pid: number, unit: string, log: Logger, root = MEMORY_V1): ScopeOomWatch | undefined {
    let dir: string | undefined;
    try {
      const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
      const path = line?.slice(line.lastIndexOf(':') + 1);
      if (path?.endsWith(`/${unit}`) && existsSync(join(root, path))) dir = join(root, path);
    } catch {
      return undefined; // the app is gone already: its exit is on its way
    }
    if (dir === undefined) return undefined;
    let event = -1;
    let control = -1;
    try {
      event = eventfd();
      control = openSync(join(dir, 'memory.oom_control'), 'r');
      writeFileSync(join(dir, 'cgroup.event_control'), `${event} ${control}`);
      return new ScopeOomWatch(event, control);
    } catch (err) {
      log.warn({ err, cgroup: dir }, 'cannot watch the scope for OOM kills: an OOM exit will be reported as killed');
      if (event >= 0) closeSync(event);
      if (control >= 0) closeSync(control);
      return undefined;
    }
  }

  /** Whether the OOM killer acted in the scope; to be called as soon as the main process has exited. Ends the watch. */
  async settle(exit: ExitStatus): Promise<boolean> {
    this.take();
    if (!this.oom && this.gone && this.signals === 1 && exit.signal === 'SIGKILL') {
      await Promise.race([new Promise<void>((resolve) => { this.woken = resolve; }), delay(DEFAULTS.internal.scopeOomSettleMs)]);
      this.take();
    }
    this.poll.stop();
    closeSync(this.event);
    closeSync(this.control);
    return this.oom;
  }

  private take(): void {
    this.signals += drain(this.event);
    if (!this.gone) {
      try {
        const buf = Buffer.alloc(256);
        const text = buf.toString('utf8', 0, readSync(this.control, buf, 0, buf.length, 0));
        if (this.signals > 0 || /^oom_kill [1-9]/m.test(text) || /^under_oom 1/m.test(text)) this.oom = true;
      } catch {
        this.gone = true; // ENODEV: the cgroup was removed
      }
    }
    if (this.gone && this.signals >= 2) this.oom = true;
    this.woken?.();
  }
}
