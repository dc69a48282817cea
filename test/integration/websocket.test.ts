import t from 'tap';
import { fixtureApp, rawRequest, startGateway } from '../helpers/gateway.js';
import { closed, loopbackAgent, nextMessage, openWebSocket } from '../helpers/websocket.js';

t.test('a WebSocket echoes through the gateway, waking the app', async (t) => {
  const gw = await startGateway(t, { chat: fixtureApp(['chat.localhost']) });
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  const ws = await openWebSocket(gw.port, 'chat.localhost', agent);
  ws.send('hello through the gateway');
  t.equal(await nextMessage(ws), 'hello through the gateway');
  const big = 'x'.repeat(60_000);
  ws.send(big);
  t.equal(await nextMessage(ws), big, 'a frame larger than one read');
  t.equal(gw.runtime.starts, 1);
  ws.close();
  await closed(ws);
});

t.test('an open WebSocket keeps the app up; closing it lets the app go idle', async (t) => {
  // `clock` goes idle after three of live's idle timeouts: its idle stop is the event that says they passed.
  const gw = await startGateway(t, { live: fixtureApp(['live.localhost'], { idleTimeout: '300ms' }), clock: fixtureApp(['clock.localhost'], { idleTimeout: '900ms' }) });
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  const ws = await openWebSocket(gw.port, 'live.localhost', agent);
  t.equal((await gw.get('clock.localhost')).status, 200);
  await gw.waitFor((l) => l.app === 'clock' && l.reason === 'idle');
  t.equal(gw.gateway.apps.get('live')!.state, 'running', 'still running after 3 idle timeouts');
  t.notOk(gw.lines.some((l) => l.app === 'live' && l.reason === 'idle'), 'never stopped meanwhile');
  ws.send('still there?');
  t.equal(await nextMessage(ws), 'still there?');
  ws.close();
  await closed(ws);
  await gw.waitFor((l) => l.app === 'live' && l.reason === 'idle');
  t.equal(gw.gateway.apps.get('live')!.state, 'stopped', 'idle stop after close');
});

t.test('maxConnectionAge closes a WebSocket so the app can go idle', async (t) => {
  const gw = await startGateway(t, { aged: fixtureApp(['aged.localhost'], { idleTimeout: '200ms', maxConnectionAge: '500ms' }) });
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  const ws = await openWebSocket(gw.port, 'aged.localhost', agent);
  const opened = Date.now();
  await closed(ws);
  t.ok(Date.now() - opened >= 450, 'closed at the max age');
  await gw.waitFor((l) => l.app === 'aged' && l.msg === 'app state changed' && l.to === 'stopped');
});

t.test('an upgrade to an unknown host is answered 404 on the raw socket', async (t) => {
  const gw = await startGateway(t, { chat: fixtureApp(['chat.localhost']) });
  const handshake = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
  const text = await rawRequest(gw.port, `GET /ws HTTP/1.1\r\nHost: ghost.localhost\r\n${handshake}`);
  t.match(text, /^HTTP\/1\.1 404 Not Found\r\n/, 'status 404');
  t.match(text, /connection: close\r\n/i);
  t.match(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)), { error: { code: 'WG_ERR_NO_ROUTE', message: 'no app serves host "ghost.localhost"' } });
  t.equal(gw.runtime.starts, 0, 'no app woken');
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  await t.rejects(openWebSocket(gw.port, 'ghost.localhost', agent), 'a WebSocket client sees the handshake fail');
});
