import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as errors from '../../src/errors.js';
import { answerFor } from '../../src/front/error-response.js';
import { ROOT } from '../helpers/gateway.js';

/** One instance of every error class, so the table is checked against what the code really answers. */
const samples: errors.WakegateError[] = [
  new errors.ConfigError('/x.yaml', [{ path: 'a', message: 'b' }]),
  new errors.SyscallError('bind', 'EADDRINUSE', 98),
  new errors.SpawnError('/bin/nope', 'ENOENT', 2),
  new errors.NoRouteError('x.example'),
  new errors.BadRequestError('missing Host header'),
  new errors.UriTooLongError(9000, 8192),
  new errors.HeadersTooLargeError('more than 100 header fields'),
  new errors.RequestTimeoutError(),
  new errors.ResponseTimeoutError('app', 60_000),
  new errors.SendTimeoutError('app', 30_000),
  new errors.StartTimeoutError('app', 1000),
  new errors.QueueFullError('app', 10),
  new errors.BackoffError('app', 2000),
  new errors.StartFailedError('app'),
  new errors.InstanceCrashedError('app', 'code 1'),
  new errors.UpstreamError('app'),
  new errors.UnavailableError('app', 'shutdown'),
  new errors.UnauthorizedError(),
  new errors.ForbiddenError('cross-site'),
  new errors.NotFoundError('app x'),
  new errors.MethodNotAllowedError('GET', ['POST']),
  new errors.AsleepError('app', 10),
  new errors.DependencyError('web', 'db', 'is crash-looping; its next start is in 2000 ms', 2000),
  new errors.CapacityError('web', '5 instances run (capacity.maxRunning is 5) and none can be evicted', 1000),
  new errors.WaitingError('app', '<p>starting</p>', { retryAfterSec: 1, refreshSec: 0 }),
  new errors.RuntimeDirUnsafeError('/run/wakegate', 'owner', 1001, 0o777, 0),
  new errors.RuntimeDirLockedError('/run/wakegate', 4242),
  new errors.SocketPathTakenError('/run/admin.sock', 'regular file'),
  new errors.AppSocketError('db', 'tcp:0.0.0.0:5432', 'in-use', 'EADDRINUSE', 'address already in use'),
  new errors.InheritedSocketError(3, 'http', 'not-listening', 'it is not listening'),
  new errors.InheritedSocketMismatchError(3, 'http', 'tcp:127.0.0.1:81', 'tcp:127.0.0.1:80'),
  new errors.SystemdUnavailableError(['app'], 'no system bus'),
  new errors.HaproxyConfigError('no admin listener'),
  new errors.DbusCallError('StartTransientUnit', 'org.freedesktop.systemd1.UnitExists', 'Unit x.scope already exists.'),
];

/** Codes that exist only as answers, without a class of their own. */
const answerOnly = { WG_ERR_INTERNAL: answerFor(new Error('bug')).status };

function readmeTable(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const m of readme.matchAll(/^\| `(WG_ERR_[A-Z_]+)` \| ([^|]+) \|/gm)) rows.set(m[1]!, m[2]!.trim());
  return rows;
}

t.test('every error class is sampled here', async (t) => {
  const classes = Object.values(errors).filter((v) => typeof v === 'function' && v.prototype instanceof errors.WakegateError);
  t.equal(samples.length, classes.length, 'add a sample for each new error class');
  t.equal(new Set(samples.map((e) => e.code)).size, samples.length, 'codes are unique');
});

t.test('the README error table lists exactly the codes and statuses of the code', async (t) => {
  const table = readmeTable();
  const expected = new Map<string, string>();
  for (const e of samples) {
    const status = answerFor(e).status;
    // Errors that never reach a client as themselves are answered 500 if they ever did; the table says —.
    expected.set(e.code, status === 500 ? '—' : String(status));
  }
  for (const [code, status] of Object.entries(answerOnly)) expected.set(code, String(status));
  t.same([...table.keys()].sort(), [...expected.keys()].sort(), 'same codes');
  for (const [code, status] of expected) t.equal(table.get(code), status, `${code} → ${status}`);
});

t.test('503 answers carry Retry-After; the backoff one says when', async (t) => {
  for (const e of samples) {
    const a = answerFor(e);
    if (a.status === 503) t.ok(a.retryAfterSec !== undefined && a.retryAfterSec >= 1, `${e.code} has Retry-After`);
  }
  t.equal(answerFor(new errors.BackoffError('app', 4500)).retryAfterSec, 5);
  t.equal(answerFor(new errors.DependencyError('web', 'db', 'is crash-looping', 4500)).retryAfterSec, 5, "a dependency's backoff");
});
