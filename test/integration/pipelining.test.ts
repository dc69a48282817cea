import { connect } from 'node:net';
import t from 'tap';
import { fixtureApp, startGateway } from '../helpers/gateway.js';

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a byte stream into HTTP/1.1 responses (Content-Length or chunked bodies). */
function parseResponses(data: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Error(`incomplete head at byte ${at}`);
    const [statusLine, ...lines] = data.subarray(at, end).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    at = end + 4;
    let body: Buffer;
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = data.subarray(at, at + length);
      at += length;
    } else {
      const pieces: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', at);
        const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
        at = lineEnd + 2;
        if (size === 0) break;
        pieces.push(data.subarray(at, at + size));
        at += size + 2;
      }
      at += 2;
      body = Buffer.concat(pieces);
    }
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body });
  }
  return out;
}

/** The fixture app's /pattern body: byte i is i % 251. */
function pattern(bytes: number): Buffer {
  return Buffer.from(Array.from({ length: bytes }, (_, i) => i % 251));
}

t.test('pipelined responses under client backpressure arrive complete and byte-exact', async (t) => {
  // A short responseTimeout ends a broken exchange (a wedged parser) quickly rather than after 60 s.
  const gw = await startGateway(t, { big: fixtureApp(['big.localhost'], { responseTimeout: '5s' }) });
  t.equal((await gw.get('big.localhost')).status, 200, 'warm');
  const sizes = [8_000_000, 100_000, 100_000];
  // The later two answer after a moment, once the first is surely held up by the full client: their data
  // then arrives while the first waits for 'drain', which node:http emits (for the first) from inside their
  // writes. The client got there with SO_RCVBUF 4096 instead, which Node cannot set.
  const paths = [`/pattern?bytes=${sizes[0]}`, `/pattern?bytes=${sizes[1]}&delay=500`, `/pattern?bytes=${sizes[2]}&delay=600`];
  const socket = connect(gw.port, '127.0.0.1');
  // Not reading: the client's receive buffer fills, and all three responses are held up behind it, the
  // second and third still queued in node:http behind the first.
  socket.pause();
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nhost: big.localhost\r\n\r\n`).join(''));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const chunks: Buffer[] = [];
  let received = 0;
  const total = sizes.reduce((a, b) => a + b, 0);
  t.teardown(() => void socket.destroy());
  const data = await new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      // The last response ends the stream as far as this client is concerned: it asked for no more.
      if (received >= total) {
        const all = Buffer.concat(chunks);
        try {
          if (parseResponses(all).length === sizes.length) resolve(all);
        } catch {
          // Not complete yet.
        }
      }
    });
    socket.on('close', () => reject(new Error(`connection closed after ${received} bytes`)));
    socket.on('error', reject);
    socket.resume();
  });
  socket.destroy();
  const responses = parseResponses(data);
  t.same(responses.map((r) => r.status), [200, 200, 200]);
  sizes.forEach((n, i) => {
    t.equal(responses[i]!.body.length, n, `response ${i + 1}: ${n} bytes`);
    t.ok(responses[i]!.body.equals(pattern(n)), `response ${i + 1}: byte-exact`);
  });
  t.notOk(gw.lines.find((l) => /assert|currentParser/i.test(JSON.stringify(l))), 'no undici assertion in the log');
  t.notOk(gw.lines.find((l) => l.level >= 50), 'nothing logged at error level');
});
