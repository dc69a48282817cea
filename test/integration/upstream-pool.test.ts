/**
 * The gateway's own upstream connections (src/upstream/) against an app that writes its responses by hand
 * (test/fixtures/apps/raw-http.mjs): what node:http would never send must still end well for the client.
 */
import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { fixtureApp, rawRequest, startGateway, type TestGateway } from '../helpers/gateway.js';

const HOST = 'raw.localhost';
const rawApp = (): Record<string, unknown> => fixtureApp([HOST], { command: [process.execPath, 'raw-http.mjs'] });

interface Stats {
  accepted: number;
  open: number;
  dropped: number;
  requests: number;
}
async function stats(gw: TestGateway): Promise<Stats> {
  return JSON.parse((await gw.get(HOST, '/stats')).body) as Stats;
}


t.test('ambiguous framing from the app: 502 for the client, and that upstream connection closed', async (t) => {
  const gw = await startGateway(t, { raw: rawApp() });
  t.equal((await gw.get(HOST, '/ok')).status, 200, 'the app is up');
  const before = await stats(gw);
  const reply = await gw.get(HOST, '/ambiguous');
  t.equal(reply.status, 502);
  t.equal((JSON.parse(reply.body) as { error: { code: string } }).error.code, 'WG_ERR_UPSTREAM');
  // The connection that carried it is gone: only the one asking for the stats is open.
  // Had the connection been kept, the next request would reuse it; a new one is made instead.
  let after = await stats(gw);
  t.equal(after.accepted, before.accepted + 1, 'the connection that carried the bad response is not reused');
  for (let i = 0; i < 100 && after.open !== 1; i++) after = await stats(gw);
  t.equal(after.open, 1, 'and the app sees it closed');
  t.equal((await gw.get(HOST, '/ok')).status, 200, 'the next request is served');
});

t.test('a reused connection the app closed unanswered: 502, and the request is not sent again, not even a GET', async (t) => {
  const gw = await startGateway(t, { raw: rawApp() });
  t.equal((await gw.get(HOST, '/arm-drop')).body, 'armed', 'the only upstream connection will drop its next request');
  const dropped = await gw.get(HOST, '/ok');
  t.equal(dropped.status, 502, 'the GET fails: the close may be the instance dying of it');
  const after = await stats(gw);
  t.equal(after.dropped, 1, 'the app dropped it once');
  t.equal(after.requests, 3, 'and never saw it again (requests: /arm-drop, the GET, this /stats)');

  t.equal((await gw.get(HOST, '/arm-drop')).body, 'armed');
  const res = await request(`http://127.0.0.1:${gw.port}/post`, { method: 'POST', headers: { host: HOST }, body: 'payload' });
  t.equal(res.statusCode, 502, 'a POST neither');
  await res.body.text();
  t.equal((await stats(gw)).dropped, 2, 'dropped once, not sent again');
  t.equal((await gw.get(HOST, '/ok')).status, 200, 'the next request is served, on a new connection');
});

t.test('an app that answers before reading the request body: the client gets the answer, its next request is served', async (t) => {
  const gw = await startGateway(t, { raw: rawApp() });
  const body = Buffer.alloc(4 << 20, 0x61);
  const head = `POST /early HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\n\r\n`;
  const next = `GET /ok HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`;
  const out = await new Promise<string>((resolve, reject) => {
    const socket = connect(gw.port, '127.0.0.1', () => {
      socket.write(head);
      socket.write(body);
      socket.write(next);
    });
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  const statuses = [...out.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
  t.same(statuses, ['200', '200'], 'both answered on the client connection');
  t.match(out, /early/);
  t.match(out, /ok 0/, 'the GET reached the app on another connection than the one left unread');
  t.equal((await stats(gw)).requests >= 3, true);
});

t.test('100-continue: the front answers it, the body follows to the app; a 103 from the app is not relayed', async (t) => {
  const gw = await startGateway(t, { raw: rawApp() });
  const out = await new Promise<string>((resolve, reject) => {
    const socket = connect(gw.port, '127.0.0.1', () => socket.write(`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (d) => {
      text += d.toString('latin1');
      // The body only once the gateway said to go on, as a careful client does.
      if (text === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write('hello');
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  t.match(out, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, 'a 100, then the answer');
  t.match(out, /\r\n\r\nok 5$/, 'the app got the 5 bytes, and no Expect field (the front already answered it)');
  const hinted = await rawRequest(gw.port, `GET /hints HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
  t.match(hinted, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhinted$/, 'the final response only, as before (node:http answers 100-continue itself; other 1xx are dropped)');
});
