import t from 'tap';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alive } from '../helpers/gateway.js';
import { socketDir } from '../helpers/socket-mode.js';
import { boundPort, RUNTIME_CASES, SOCKET_FIXTURES, socketApp, startSocketGateway } from '../helpers/socket-servers.js';
import { needTool } from '../helpers/tools.js';

/**
 * Real servers of other ecosystems behind socket mode: the gateway holds their listening sockets, wakes
 * them on the first pending connection, and is out of the data path. Each runs on the process and the oci
 * runtime; in a container the server is PID 1 with LISTEN_PID=1, and its network namespace is empty, so the
 * inherited sockets are its only way in.
 */

const run = promisify(execFile);

interface Answer {
  status: number;
  body: string;
}

/** One HTTP/1.1 GET on a fresh connection, to a TCP port or a Unix socket path. */
function httpGet(target: { port: number } | { socketPath: string }, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const where = 'port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath };
    const req = request({ ...where, path, agent: false, headers: { host: 'socket.test', connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface GunicornAnswer {
  server: string;
  local: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };
  worker: number;
  arbiter: number;
  listenFdNames: string | null;
}

interface H2Answer {
  httpVersion: string;
  method: string;
  path: string;
  pid: number;
  listenFds: string;
  listenFdNames: string;
}

for (const rc of RUNTIME_CASES) {
  t.test(`${rc.runtime} runtime`, { skip: rc.skip }, async (t) => {
    t.test('gunicorn serves on both inherited sockets, TCP and Unix, from one start', async (t) => {
      // Debian's gunicorn, by path: a container sees the host's /usr only, so a pip install elsewhere would not do.
      if (!needTool(t, '/usr/bin/gunicorn', 'gunicorn')) return;
      const sock = join(socketDir(t), 'green.sock');
      const app = socketApp(rc, ['tcp:127.0.0.1:0', { address: `unix:${sock}`, name: 'ctl' }], ['/usr/bin/gunicorn'], join(SOCKET_FIXTURES, 'gunicorn'), {
        // Debian's python3 writes no bytecode into the fixture directory (read-only in a container anyway).
        env: { PYTHONDONTWRITEBYTECODE: '1' },
        startTimeout: '20s',
      });
      const gw = await startSocketGateway(t, { green: app });
      const port = boundPort(gw, 'green', 'tcp:127.0.0.1:0');
      t.equal(gw.events.starts('green'), 0, 'nothing runs before the first connection');

      const overTcp = await httpGet({ port }, '/tcp');
      t.equal(overTcp.status, 200, 'the TCP connection that woke gunicorn is answered');
      const tcp = JSON.parse(overTcp.body) as GunicornAnswer;
      t.same(tcp.local, { kind: 'tcp', host: '127.0.0.1', port }, 'accepted on the inherited TCP socket');

      const overUnix = await httpGet({ socketPath: sock }, '/unix');
      t.equal(overUnix.status, 200, 'the Unix socket is served too');
      const unix = JSON.parse(overUnix.body) as GunicornAnswer;
      t.same(unix.local, { kind: 'unix', path: sock }, 'accepted on the inherited Unix socket');

      t.equal(gw.events.starts('green'), 1, 'one instance serves both sockets');
      t.equal(tcp.arbiter, unix.arbiter, 'the same gunicorn arbiter');
      t.equal(tcp.listenFdNames, 'green:ctl', 'LISTEN_FDNAMES names both sockets in config order');
      const instance = gw.gateway.apps.get('green')!.instance!;
      // gunicorn takes the fds only when LISTEN_PID is its own pid: the pid the runtime started, or 1 in a container.
      t.equal(tcp.arbiter, rc.runtime === 'oci' ? 1 : instance.pid, 'gunicorn accepted LISTEN_PID as its own pid');
    });

    t.test('an HTTP/2 cleartext server on fd 3 has a real h2 exchange with nghttp', async (t) => {
      if (!needTool(t, 'nghttp', 'nghttp2-client')) return;
      const gw = await startSocketGateway(t, { h2: socketApp(rc, ['tcp:127.0.0.1:0'], [rc.node, 'h2c.mjs'], SOCKET_FIXTURES) });
      const port = boundPort(gw, 'h2', 'tcp:127.0.0.1:0');
      t.equal(gw.events.starts('h2'), 0, 'nothing runs before the first connection');

      // nghttp speaks h2 with prior knowledge on http:// URIs (no Upgrade), so the app's HTTP/2 stack, not a gateway, answers.
      const { stdout } = await run('nghttp', ['-v', `http://127.0.0.1:${port}/via-socket-mode`], { timeout: 30_000 });
      t.match(stdout, /recv SETTINGS frame <length=\d+, flags=0x00, stream_id=0>/, "the server's SETTINGS frame arrived");
      t.match(stdout, /recv SETTINGS frame <length=0, flags=0x01, stream_id=0>\s+; ACK/, 'and its ACK of ours');
      t.match(stdout, /recv \(stream_id=\d+\) :status: 200/, 'a 200 on an h2 stream');
      t.match(stdout, /recv \(stream_id=\d+\) x-served-by: h2c-fixture/, "the fixture's own header");
      t.match(stdout, /recv DATA frame <length=\d+, flags=0x01, stream_id=\d+>\s+; END_STREAM/, 'the stream ended cleanly');
      t.notMatch(stdout, /GOAWAY frame[^\n]*\n[^\n]*error_code=(?!NO_ERROR)/, 'no GOAWAY with an error');
      const json = /\{"httpVersion".*?\}/.exec(stdout);
      t.ok(json, 'the JSON body is in the output');
      const body = JSON.parse(json![0]) as H2Answer;
      t.equal(body.httpVersion, '2.0', 'the app saw HTTP/2');
      t.equal(body.path, '/via-socket-mode', 'and the path nghttp asked for');
      t.equal(body.listenFds, '1', 'one inherited socket');
      t.equal(body.listenFdNames, 'h2', 'named after the app');
      const instance = gw.gateway.apps.get('h2')!.instance!;
      t.equal(body.pid, rc.runtime === 'oci' ? 1 : instance.pid, 'served by the instance the gateway started');
      t.equal(gw.events.starts('h2'), 1, 'one start');

      // A second client finds it running: no second start.
      await run('nghttp', [`http://127.0.0.1:${port}/again`], { timeout: 30_000 });
      t.equal(gw.events.starts('h2'), 1, 'still one start');
      t.ok(alive(instance.pid), 'the instance still runs');
    });
  });
}
