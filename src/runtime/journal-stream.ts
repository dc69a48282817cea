import { writeSync } from 'node:fs';
import { DEFAULTS } from '../defaults.js';
import { SyscallError } from '../errors.js';
import type { Logger } from '../log.js';
import { closeFd, unixConnect } from '../native/index.js';
import type { OutputSink } from './output.js';

/** What journald learns of one stream from its first lines, before any output. */
export interface JournalStreamHeader {
  /** SYSLOG_IDENTIFIER of every line. */
  readonly identifier: string;
  /**
   * The unit the lines belong to. journald attributes a line to the cgroup of the process that wrote it;
   * this name stands in only when that process is gone before its line is read, and only from a root peer.
   */
  readonly unit: string;
  /** Syslog priority of a line without a `<N>` prefix. */
  readonly priority: number;
}

/**
 * The stream's header in journald's stdout protocol, as systemd writes it for StandardOutput=journal:
 * identifier, unit id, priority, level prefix, then forward to syslog, kmsg and console, one per line.
 * The forwards are off: journald's own ForwardTo*= settings still apply to every line. Level prefixes are
 * on, as systemd's SyslogLevelPrefix= default: a line starting `<3>` is logged at err (sd-daemon(3)).
 */
export function journalStreamHeader(header: JournalStreamHeader): string {
  for (const [field, value] of [['identifier', header.identifier], ['unit', header.unit]] as const) {
    if (/[\n\0]/.test(value) || value.trim() === '') throw new TypeError(`journal stream ${field} must be one non-empty line, got ${JSON.stringify(value)}`);
  }
  if (!Number.isInteger(header.priority) || header.priority < 0 || header.priority > 7) throw new TypeError(`journal stream priority must be 0-7, got ${header.priority}`);
  return `${header.identifier}\n${header.unit}\n${header.priority}\n1\n0\n0\n0\n`;
}

/** One stream to journald: a connected socket with its header written, for a child's stdout or stderr. Throws SyscallError. */
export function openJournalStream(socketPath: string, header: JournalStreamHeader): number {
  const fd = unixConnect(socketPath);
  try {
    // A fresh socket's send buffer is empty, so this small write does not block.
    writeSync(fd, journalStreamHeader(header));
  } catch (err) {
    closeFd(fd);
    const e = err as NodeJS.ErrnoException;
    throw new SyscallError('write', e.code ?? 'EIO', typeof e.errno === 'number' ? -e.errno : 0, socketPath);
  }
  return fd;
}

/**
 * Tenant output into the journal, one stream each for stdout and stderr (so each has its priority), as
 * systemd connects a service's: the tenant writes to journald itself, and its output outlives the
 * gateway. Where journald's socket is missing or refuses (a host without journald), `open` returns
 * undefined, the output goes to the gateway's log as for the other runtimes, and that is said once.
 */
export class JournalOutput {
  private warned = false;

  constructor(private readonly socketPath: string = DEFAULTS.internal.journalStdoutSocket) {}

  /** The sink for one instance; the caller closes both fds once the child has its copies. */
  open(identifier: string, unit: string, log: Logger): OutputSink | undefined {
    let stdout: number | undefined;
    try {
      stdout = openJournalStream(this.socketPath, { identifier, unit, priority: DEFAULTS.internal.journalStdoutPriority });
      const stderr = openJournalStream(this.socketPath, { identifier, unit, priority: DEFAULTS.internal.journalStderrPriority });
      return { stdout, stderr };
    } catch (err) {
      if (stdout !== undefined) closeFd(stdout);
      if (!(err instanceof SyscallError)) throw err;
      if (!this.warned) {
        this.warned = true;
        log.warn({ err, socket: this.socketPath }, "failed to connect to journald's stdout socket; tenant output goes to the gateway log instead");
      }
      return undefined;
    }
  }
}
