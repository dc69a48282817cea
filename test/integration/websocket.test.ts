import t from 'tap';
import { fixtureApp, sleep, startGateway, until } from '../helpers/gateway.js';
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
  const gw = await startGateway(t, { live: fixtureApp(['live.localhost'], { idleTimeout: '300ms' }) });
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  const ws = await openWebSocket(gw.port, 'live.localhost', agent);
  await sleep(900);
  t.equal(gw.gateway.apps.get('live')!.state, 'running', 'still running after 3 idle timeouts');
  ws.send('still there?');
  t.equal(await nextMessage(ws), 'still there?');
  ws.close();
  await closed(ws);
  await until(() => gw.gateway.apps.get('live')!.state === 'stopped', 3000, 'idle stop after close');
  t.ok(gw.lines.some((l) => l.app === 'live' && l.reason === 'idle'));
});

t.test('maxConnectionAge closes a WebSocket so the app can go idle', async (t) => {
  const gw = await startGateway(t, { aged: fixtureApp(['aged.localhost'], { idleTimeout: '200ms', maxConnectionAge: '500ms' }) });
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  const ws = await openWebSocket(gw.port, 'aged.localhost', agent);
  const opened = Date.now();
  await closed(ws);
  t.ok(Date.now() - opened >= 450, 'closed at the max age');
  await until(() => gw.gateway.apps.get('aged')!.state === 'stopped', 3000, 'idle stop');
});

t.test('an upgrade to an unknown host is answered 404 on the raw socket', async (t) => {
  const gw = await startGateway(t, {});
  const agent = loopbackAgent();
  t.teardown(() => agent.close());
  await t.rejects(openWebSocket(gw.port, 'ghost.localhost', agent));
});
