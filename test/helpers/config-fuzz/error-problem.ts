import { ConfigError } from '../../../src/errors.js';

/** What is wrong with what the loader threw; undefined for a proper ConfigError. */
export function errorProblem(err: unknown): string | undefined {
  if (!(err instanceof ConfigError)) return `threw ${describeError(err)}`;
  if (!Array.isArray(err.issues) || err.issues.length === 0) return 'a ConfigError without issues';
  for (const issue of err.issues) {
    if (typeof issue.path !== 'string') return `an issue without a string path: ${JSON.stringify(issue)}`;
    if (typeof issue.message !== 'string' || issue.message === '') return `an issue without a message at ${JSON.stringify(issue.path)}`;
    // schema.ts turns any exception thrown while validating into this issue: it is a bug all the same.
    if (issue.message.startsWith('failed to validate config:')) return `the validator crashed: ${describeError(err.cause)}`;
  }
  return undefined;
}

/** An error on one line with its first stack frames: enough to find a crash from a failure message. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `a non-Error: ${String(err).slice(0, 200)}`;
  const frames = (err.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 4).map((l) => l.trim());
  return `${err.name}: ${err.message.slice(0, 300)} [${frames.join(' < ')}]`;
}
