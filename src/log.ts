import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config/types.js';

export type { Logger };

/**
 * The gateway's root logger: pino JSON on stdout (one line per event, so tests and operators can parse it).
 * Components take `logger.child({ component, app })` so every line carries fixed keys.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination({ sync: false }));
}
