/** Errors of `wakegate haproxy-config`: a config or a server list HAProxy could not front as asked. */
import { WakegateError } from './wakegate-error.js';

/** The generated haproxy.cfg would not work (no health check possible, a bad --server, ...); nothing is printed. */
export class HaproxyConfigError extends WakegateError {
  readonly code = 'WG_ERR_HAPROXY_CONFIG';
  constructor(readonly problem: string) {
    super(`cannot derive an HAProxy config: ${problem}`);
  }
}
