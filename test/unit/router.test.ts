import t from 'tap';
import { BadRequestError, NoRouteError } from '../../src/errors.js';
import { normalizeHost, Router } from '../../src/front/router.js';
import { mulberry32 } from '../helpers/seeded-random.js';

t.test('exact names win over wildcards; the longest wildcard suffix wins', async (t) => {
  const router = new Router<string>([
    [['a.example', '*.example'], 'wide'],
    [['*.b.example'], 'narrow'],
    [['x.b.example'], 'exact'],
  ]);
  t.equal(router.resolve('a.example'), 'wide');
  t.equal(router.resolve('z.example'), 'wide');
  t.equal(router.resolve('y.b.example'), 'narrow');
  t.equal(router.resolve('deep.y.b.example'), 'narrow', 'a wildcard matches several labels');
  t.equal(router.resolve('x.b.example'), 'exact');
  t.throws(() => router.resolve('example'), NoRouteError, 'never the bare suffix');
  t.throws(() => router.resolve('other.test'), NoRouteError);
});

t.test('host normalisation', async (t) => {
  t.equal(normalizeHost('Hello.Example:8080'), 'hello.example');
  t.equal(normalizeHost('hello.example.'), 'hello.example', 'trailing dot');
  t.equal(normalizeHost('[::1]:80'), '[::1]');
  for (const bad of [undefined, '', 'a b', 'a/b', 'host:99999', 'host:port', '-lead.example', 'a..b:1:2', 'x'.repeat(254)]) {
    t.throws(() => normalizeHost(bad), BadRequestError, `rejects ${JSON.stringify(bad)?.slice(0, 20)}`);
  }
});

t.test('a Host seen before resolves the same; one that failed fails again', async (t) => {
  const router = new Router<string>([[['a.example', '*.w.example'], 'a']]);
  for (let i = 0; i < 3; i++) {
    t.equal(router.resolve('A.example:8080'), 'a', `resolve ${i}`);
    t.equal(router.resolve('x.w.example'), 'a');
    t.throws(() => router.resolve('b.example'), NoRouteError, 'a miss is not remembered as a hit');
    t.throws(() => router.resolve('a b'), BadRequestError);
    t.throws(() => router.resolve(undefined), BadRequestError);
  }
  // Far more distinct spellings than the cache holds: each still resolves.
  for (let port = 1; port <= 3000; port++) t.equal(router.resolve(`a.example:${port}`), 'a');
});

t.test('wildcards resolve as a longest-suffix-first scan over all of them would, at 10,000 wildcard apps', async (t) => {
  const random = mulberry32(11);
  const label = (): string => ['a', 'b', 'c', 'x-1', 'app7', '9'][Math.floor(random() * 6)]!;
  const name = (labels: number): string => Array.from({ length: labels }, label).join('.');
  const routes: Array<[string[], string]> = Array.from({ length: 10_000 }, (_, i) => [[`*.t${i}.example`], `app${i}`]);
  for (let i = 0; i < 200; i++) routes.push([[`*.${name(1 + Math.floor(random() * 3))}`], `w${i}`]);
  const router = new Router<string>(routes);
  // The reference: the scan the router did before, over every wildcard, longest first, the first claim winning.
  const scan = [...new Map(routes.flatMap(([hosts, app]) => hosts.map((h) => [h.slice(1), app] as const)).reverse()).entries()].sort((a, b) => b[0].length - a[0].length);
  const expected = (host: string): string | undefined => scan.find(([suffix]) => host.length > suffix.length && host.endsWith(suffix))?.[1];
  for (let i = 0; i < 2000; i++) {
    const host = random() < 0.3 ? `${name(1 + Math.floor(random() * 2))}.t${Math.floor(random() * 10_000)}.example` : name(1 + Math.floor(random() * 5));
    const want = expected(host);
    if (want === undefined) t.throws(() => router.resolve(host), NoRouteError, `${host}: no route`);
    else if (router.resolve(host) !== want) t.fail(`${host}: ${router.resolve(host)}, expected ${want}`);
  }
  t.equal(router.resolve('deep.x.t9999.example'), 'app9999');
  t.throws(() => router.resolve('t9999.example'), NoRouteError, 'never the bare suffix');
});
