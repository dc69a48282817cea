// "Bring your own L7": a real nginx, its workers a second uid in socketGroup, routes by Host straight to
// two apps' wakegate-held sockets, with the README's own nginx block. Nothing of it crosses the front.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { ExitReason, Recorder } from '../../src/activator/recorder.js';
import { fixtureApp, ROOT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { localGroup, localUser } from '../helpers/local-user.js';
import { readmeNginxBlock, startNginx, type TestNginx } from '../helpers/nginx.js';
import { missingTool } from '../helpers/tools.js';

const README_BLOCK = readmeNginxBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'));
const APPS = ['blog', 'shop'] as const;
const HERD = 200;

interface Answer {
  readonly status: number;
  readonly app: string | undefined;
  readonly connections: number | undefined;
}

/** One GET through nginx on a connection of its own (no client keep-alive: each is a first request). */
function viaNginx(nginx: TestNginx, host: string, path = '/'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: nginx.port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        let parsed: { env?: { APP?: string }; connections?: number } = {};
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          // an nginx error page: the status says it
        }
        resolve({ status: res.statusCode ?? 0, app: parsed.env?.APP, connections: parsed.connections });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Exit {
  readonly app: string;
  readonly reason: ExitReason;
  readonly at: number;
}

/** Each app's starts and its instances' exits, as the activator reports them: events to await, not to poll. */
function activatorEvents(): { recorder: Recorder; starts: Map<string, number>; exited(app: string): Promise<Exit> } {
  const starts = new Map<string, number>();
  const waiting: Array<{ app: string; done: (exit: Exit) => void }> = [];
  const recorder: Recorder = {
    stateChanged: (app, _from, to) => void (to === 'starting' && starts.set(app, (starts.get(app) ?? 0) + 1)),
    coldStart: () => {},
    instanceExited: (app, event) => {
      const exit = { app, reason: event.reason, at: Date.now() };
      for (const w of waiting.filter((w) => w.app === app)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.done(exit);
      }
    },
    load: () => {},
  };
  return { recorder, starts, exited: (app) => new Promise((done) => waiting.push({ app, done })) };
}

interface Front {
  readonly gw: TestGateway;
  readonly nginx: TestNginx;
  readonly starts: Map<string, number>;
  /** Resolves at the next exit of an instance of `app`. */
  exited(app: string): Promise<Exit>;
}

/** A gateway with socketGroup, and nginx with the README block whose workers are a member of that group. */
async function front(t: Test, runtime: Runtime, app: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Promise<Front> {
  const group = await localGroup(t);
  const worker = await localUser(t, [group.name]);
  const { recorder, starts, exited } = activatorEvents();
  const command = [runtime === 'oci' ? 'node' : process.execPath, 'app.mjs'];
  const apps = Object.fromEntries(APPS.map((name) => [name, fixtureApp([`${name}.example.com`], { env: { APP: name }, runtime, command, ...app })]));
  const gw = await startGateway(t, apps, { socketGroup: group.name, ...top }, { recorder, realRuntimes: runtime === 'oci' });
  const nginx = await startNginx(t, README_BLOCK.replaceAll('/run/wakegate', gw.config.runtimeDir), worker.name);
  return { gw, nginx, starts, exited };
}

type Runtime = 'process' | 'oci';
const noNginx = missingTool('nginx', 'nginx-light');
const ociSkip = missingTool('runc', 'runc') || (process.getuid?.() !== 0 ? 'containers need root' : false);
const skipFor = (runtime: Runtime): string | false => noNginx || (runtime === 'oci' ? ociSkip : false);

for (const runtime of ['process', 'oci'] as const) {
  t.test(`${runtime}: nginx routes by Host to each app’s socket; a herd of first requests starts each app once, with no error`, { skip: skipFor(runtime) }, async (t) => {
    const { gw, nginx, starts } = await front(t, runtime, { idleTimeout: '60s' });
    t.same([...starts], [], 'nothing runs before the herd');
    const herd = APPS.flatMap((app) => Array.from({ length: HERD }, () => viaNginx(nginx, `${app}.example.com`).then((answer) => ({ app, answer }))));
    const results = await Promise.allSettled(herd);
    const failed = results.filter((r) => r.status === 'rejected');
    t.equal(failed.length, 0, `no request failed${failed.length > 0 ? `: ${String((failed[0] as PromiseRejectedResult).reason)}` : ''}`);
    const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    for (const app of APPS) {
      const mine = answers.filter((a) => a.app === app);
      t.equal(mine.filter((a) => a.answer.status === 200).length, HERD, `${app}: ${HERD} answers 200`);
      t.same(new Set(mine.map((a) => a.answer.app)), new Set([app]), `${app}: every answer came from ${app}`);
      t.equal(starts.get(app), 1, `${app}: exactly one start`);
    }
    t.equal(gw.gateway.apps.get('blog')?.state, 'running');
  });

  t.test(`${runtime}: a silent keep-alive connection from nginx does not keep the app up past idleTimeout plus sampleInterval`, { skip: skipFor(runtime) }, async (t) => {
    const idleMs = 2000;
    const sampleMs = 500;
    const { gw, nginx, starts, exited } = await front(t, runtime, { idleTimeout: `${idleMs}ms`, stopTimeout: '2s' }, { sampleInterval: `${sampleMs}ms` });
    // In use for longer than idleTimeout: requests back to back, on the upstream connections nginx keeps alive.
    const first = await viaNginx(nginx, 'blog.example.com');
    t.equal(first.status, 200);
    const until = Date.now() + 2 * idleMs;
    let last = first;
    let requests = 1;
    while (Date.now() < until) {
      last = await viaNginx(nginx, 'blog.example.com');
      requests += 1;
      if (last.status !== 200 || starts.get('blog') !== 1) break;
    }
    t.equal(last.status, 200, 'every request was answered');
    // Counted by the activator: a container's pid is 1 whatever the instance.
    t.equal(starts.get('blog'), 1, 'used, the instance stayed up past idleTimeout');
    // nginx opens a new upstream connection every keepalive_requests (1000) requests, no more often.
    t.ok((last.connections ?? Infinity) <= Math.ceil(requests / 1000), `${requests} requests on ${last.connections} upstream connections`);
    const quietSince = Date.now();
    await gw.gateway.sampler.sampleNow();
    t.equal(gw.gateway.apps.get('blog')?.connections, 1, 'nginx holds its last upstream connection open, silent');
    // Bounded, so that an app kept up by the silent connection fails here rather than at tap's timeout.
    const exit = await Promise.race([exited('blog'), delay(5 * idleMs, undefined, { ref: false })]);
    if (exit === undefined) return void t.fail(`still up ${5 * idleMs} ms after the last request`);
    t.equal(exit.reason, 'idle', 'stopped as idle with the connection still open');
    const slack = 1000; // the stop itself (SIGTERM, exit) and timer granularity
    t.ok(exit.at - quietSince <= idleMs + sampleMs + slack, `stopped ${exit.at - quietSince} ms after the last request (idleTimeout ${idleMs} + sampleInterval ${sampleMs} ms)`);
    t.ok(exit.at - quietSince >= idleMs - sampleMs, 'not before idleTimeout (less the sample that saw the last use)');
    // nginx drops its closed upstream connection; the next request wakes a new instance.
    const again = await viaNginx(nginx, 'blog.example.com');
    t.equal(again.status, 200);
    t.equal(starts.get('blog'), 2, 'from a new instance');
    t.equal(gw.gateway.apps.get('shop')?.state, 'stopped', 'the other app never started');
  });
}
