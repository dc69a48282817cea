import t from 'tap';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { downstreamHeaders, forwardedValue, TrustedProxies, upstreamHeaders } from '../../src/front/forwarded.js';

t.test('trusted proxies: addresses and CIDRs, v4, v6 and v4-mapped', async (t) => {
  const trusted = new TrustedProxies(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
  t.ok(trusted.trusts('10.1.2.3'));
  t.ok(trusted.trusts('::ffff:10.1.2.3'), 'v4-mapped form of a trusted address');
  t.ok(trusted.trusts('192.0.2.7'));
  t.notOk(trusted.trusts('192.0.2.8'));
  t.ok(trusted.trusts('2001:db8::1'));
  t.notOk(trusted.trusts('2001:db9::1'));
  t.notOk(trusted.trusts(undefined));
  t.notOk(new TrustedProxies([]).trusts('127.0.0.1'), 'nobody is trusted by default');
});

t.test('response hop-by-hop headers are removed, including those named in Connection', async (t) => {
  const out = downstreamHeaders({
    'content-type': 'text/plain',
    connection: 'keep-alive, x-secret',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'x-secret': 'hop',
    'set-cookie': ['a=1', 'b=2'],
  });
  t.same(out, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
});

t.test('RFC 7239 values: IPv6 bracketed and quoted, tokens bare, the rest quoted and escaped', async (t) => {
  t.equal(forwardedValue('192.0.2.60'), '192.0.2.60');
  t.equal(forwardedValue('2001:db8:cafe::17'), '"[2001:db8:cafe::17]"');
  t.equal(forwardedValue('::ffff:127.0.0.1'), '"[::ffff:127.0.0.1]"');
  t.equal(forwardedValue('app.example'), 'app.example');
  t.equal(forwardedValue('app.example:8080'), '"app.example:8080"');
  t.equal(forwardedValue('a"b\\c'), '"a\\"b\\\\c"');
});

/**
 * Sends `head` from a real client to a real node:http server on `host` and returns the upstream header
 * list the gateway would build for it, as [name, value] pairs.
 */
async function upstreamFor(t: Test, head: string, trusted: TrustedProxies, host = '127.0.0.1'): Promise<Array<[string, string]>> {
  let built: string[] = [];
  const server = createServer((req, res) => {
    built = upstreamHeaders(req, trusted);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, host, () => socket.end(`${head}Connection: close\r\n\r\n`));
    socket.on('data', () => {}).on('close', () => resolve()).on('error', reject);
  });
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < built.length; i += 2) pairs.push([built[i]!, built[i + 1]!]);
  return pairs;
}

const SPOOFED =
  'GET / HTTP/1.1\r\nHost: fw.localhost\r\n' +
  'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: bank.example\r\nX-Real-IP: 6.6.6.6\r\n' +
  'Forwarded: for=6.6.6.6;proto=https;host=bank.example\r\n' +
  'X_Forwarded_For: 6.6.6.7\r\nX_Forwarded_Proto: https\r\nX_Forwarded_Host: bank.example\r\nX_Real_IP: 6.6.6.7\r\n' +
  'x_forwarded_for: 6.6.6.8\r\nX-Real_Ip: 6.6.6.9\r\nFORWARDED: for=6.6.6.10\r\nX-Kept: yes\r\n';

t.test('an untrusted peer: every spelling of every forwarding field is dropped, and the gateway sets its own', async (t) => {
  const pairs = await upstreamFor(t, SPOOFED, new TrustedProxies([]));
  const forwarding = pairs.filter(([name]) => /forwarded|real.?ip/i.test(name));
  t.same(forwarding, [
    ['x-forwarded-for', '127.0.0.1'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'fw.localhost'],
    ['x-real-ip', '127.0.0.1'],
    ['forwarded', 'for=127.0.0.1;proto=http;host=fw.localhost'],
  ]);
  t.ok(pairs.some(([name, value]) => name === 'X-Kept' && value === 'yes'), 'other fields pass');
  t.notOk(pairs.some(([, value]) => value.includes('6.6.6') || value.includes('bank.example')), 'no spoofed value anywhere');
});

t.test('a trusted proxy: its standard fields are kept and extended, its underscore spellings dropped', async (t) => {
  const pairs = await upstreamFor(t, SPOOFED, new TrustedProxies(['127.0.0.1']));
  const forwarding = pairs.filter(([name]) => /forwarded|real.?ip/i.test(name));
  t.same(forwarding, [
    ['x-forwarded-for', '6.6.6.6, 127.0.0.1'],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-host', 'bank.example'],
    ['x-real-ip', '6.6.6.6'],
    // node:http joins repeated Forwarded fields with ", ", which is how RFC 7239 lists elements.
    ['forwarded', 'for=6.6.6.6;proto=https;host=bank.example, for=6.6.6.10, for=127.0.0.1;proto=http;host=fw.localhost'],
  ]);
});

t.test('an IPv6 peer is bracketed and quoted in Forwarded; a Host with a port is quoted', async (t) => {
  const pairs = await upstreamFor(t, 'GET / HTTP/1.1\r\nHost: fw.localhost:8080\r\n', new TrustedProxies([]), '::1');
  t.same(
    pairs.filter(([name]) => name === 'forwarded' || name === 'x-forwarded-for'),
    [
      ['x-forwarded-for', '::1'],
      ['forwarded', 'for="[::1]";proto=http;host="fw.localhost:8080"'],
    ],
  );
});
