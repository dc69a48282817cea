import t from 'tap';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { fixtureApp, rawRequest, startGateway } from '../helpers/gateway.js';
import { runGateway } from '../helpers/cli.js';

const GiB = 1024 ** 3;

function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** Samples the peak RSS of `pid` while `work` runs. */
async function peakRss(pid: number, work: Promise<unknown>): Promise<number> {
  let peak = rss(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rss(pid))), 25);
  try {
    await work;
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rss(pid));
}

function zeros(total: number): Readable {
  const chunk = Buffer.alloc(256 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
      sent += piece.length;
      this.push(piece);
    },
  });
}

t.test('1 GiB streams both ways through the gateway with bounded memory', async (t) => {
  const gw = await runGateway(t, { apps: { bulk: fixtureApp(['bulk.localhost']) } });
  const upload = (bytes: number): Promise<{ bytes: number }> =>
    request(`http://127.0.0.1:${gw.port}/count`, { method: 'POST', headers: { host: 'bulk.localhost' }, body: zeros(bytes) }).then(
      async (res) => (await res.body.json()) as { bytes: number },
    );
  // Warm up first: the first hundred MB through a fresh process grow its RSS by ~45 MB of allocator and
  // GC slack (V8 collects external buffers in batches) whatever the body size. The bound is about
  // buffering, which grows with the body, so it is measured from a warm baseline.
  const cold = rss(gw.pid);
  await upload(128 * 1024 ** 2);
  t.comment(`warm-up grew the RSS by ${((rss(gw.pid) - cold) / 1024 ** 2).toFixed(1)} MB`);
  const base = rss(gw.pid);

  const uploaded = upload(GiB);
  const upPeak = await peakRss(gw.pid, uploaded);
  t.same(await uploaded, { bytes: GiB }, 'every byte of the upload arrived');
  t.ok(upPeak - base < 64 * 1024 ** 2, `upload grew the gateway RSS by ${((upPeak - base) / 1024 ** 2).toFixed(1)} MB (< 64 MB)`);

  const download = request(`http://127.0.0.1:${gw.port}/download?bytes=${GiB}`, { headers: { host: 'bulk.localhost' } }).then(async (res) => {
    let bytes = 0;
    for await (const chunk of res.body) {
      bytes += (chunk as Buffer).length;
      // A slow reader: the gateway must pause the app instead of buffering for us.
      if (bytes % (64 * 1024 ** 2) < (chunk as Buffer).length) await new Promise((r) => setTimeout(r, 50));
    }
    return bytes;
  });
  const downPeak = await peakRss(gw.pid, download);
  t.equal(await download, GiB, 'every byte of the download arrived');
  t.ok(downPeak - base < 64 * 1024 ** 2, `download grew the gateway RSS by ${((downPeak - base) / 1024 ** 2).toFixed(1)} MB (< 64 MB)`);
});

t.test('X-Forwarded-* replaced for untrusted peers, extended for trusted ones; hop-by-hop headers removed', async (t) => {
  const spoof =
    'x-forwarded-for: 6.6.6.6\r\nx-forwarded-proto: https\r\nx-forwarded-host: evil.example\r\nx-custom: kept\r\n' +
    'x-drop-me: 1\r\nconnection: x-drop-me, close\r\nkeep-alive: timeout=5\r\nte: trailers\r\nproxy-authorization: Basic eDp5\r\n';
  const headersSeen = async (port: number): Promise<Record<string, string>> => {
    const reply = await rawRequest(port, `GET / HTTP/1.1\r\nhost: echo.localhost\r\n${spoof}\r\n`);
    return (JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> }).headers;
  };
  const untrusted = await startGateway(t, { echo: fixtureApp(['echo.localhost']) });
  const seen = await headersSeen(untrusted.port);
  t.equal(seen['x-forwarded-for'], '127.0.0.1', 'client value replaced');
  t.equal(seen['x-forwarded-proto'], 'http');
  t.equal(seen['x-forwarded-host'], 'echo.localhost');
  t.equal(seen['x-custom'], 'kept');
  t.equal(seen.host, 'echo.localhost', 'Host passed through');
  for (const gone of ['x-drop-me', 'keep-alive', 'te', 'proxy-authorization']) t.notOk(gone in seen, `${gone} removed`);

  const trusted = await startGateway(t, { echo: fixtureApp(['echo.localhost']) }, { trustedProxies: ['127.0.0.0/8'] });
  const relayed = await headersSeen(trusted.port);
  t.equal(relayed['x-forwarded-for'], '6.6.6.6, 127.0.0.1', 'a trusted proxy chain is extended');
  t.equal(relayed['x-forwarded-proto'], 'https');
  t.equal(relayed['x-forwarded-host'], 'evil.example');
});
