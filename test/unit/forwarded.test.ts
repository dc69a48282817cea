import t from 'tap';
import { downstreamHeaders, TrustedProxies } from '../../src/front/forwarded.js';

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
