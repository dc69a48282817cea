import t from 'tap';
import { fixtureApp, rawRequest, startGateway } from '../helpers/gateway.js';

/** A client posing as a proxy: every forwarding field in every spelling an app stack might read. */
const SPOOFED = [
  'X-Forwarded-For: 6.6.6.6',
  'X-Forwarded-Proto: https',
  'X-Forwarded-Host: bank.example',
  'X-Real-IP: 6.6.6.6',
  'Forwarded: for=6.6.6.6;proto=https;host=bank.example',
  'X_Forwarded_For: 6.6.6.7',
  'X_Forwarded_Proto: https',
  'X_Forwarded_Host: bank.example',
  'X_Real_IP: 6.6.6.7',
  'x_forwarded_for: 6.6.6.8',
  'X-Forwarded_Host: bank.example',
  'FORWARDED: for=6.6.6.9',
].join('\r\n');

async function appHeaders(port: number): Promise<Record<string, string>> {
  const text = await rawRequest(port, `GET /echo HTTP/1.1\r\nHost: fw.localhost\r\n${SPOOFED}\r\nConnection: close\r\n\r\n`);
  if (!text.startsWith('HTTP/1.1 200 ')) throw new Error(`expected a 200, got ${text.slice(0, 200)}`);
  return (JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> }).headers;
}

const forwarding = (headers: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => /forwarded|real.?ip/.test(name)));

t.test('through the gateway, an untrusted client cannot tell the app who it is: the app sees only the gateway values', async (t) => {
  const gw = await startGateway(t, { fw: fixtureApp(['fw.localhost']) });
  const headers = await appHeaders(gw.port);
  t.same(forwarding(headers), {
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'fw.localhost',
    'x-real-ip': '127.0.0.1',
    forwarded: 'for=127.0.0.1;proto=http;host=fw.localhost',
  });
  t.notOk(JSON.stringify(headers).includes('6.6.6'), 'no spoofed address in any field');
  t.notOk(JSON.stringify(headers).includes('bank.example'), 'no spoofed host in any field');
});

t.test('through the gateway, a trusted proxy is believed in the standard spellings only, and extended', async (t) => {
  const gw = await startGateway(t, { fw: fixtureApp(['fw.localhost']) }, { trustedProxies: ['127.0.0.1'] });
  t.same(forwarding(await appHeaders(gw.port)), {
    'x-forwarded-for': '6.6.6.6, 127.0.0.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'bank.example',
    'x-real-ip': '6.6.6.6',
    forwarded: 'for=6.6.6.6;proto=https;host=bank.example, for=6.6.6.9, for=127.0.0.1;proto=http;host=fw.localhost',
  });
});
