/** One timed request, as every gateway cold-start path of the bench makes it. */
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';

/**
 * GET / for `host` on a fresh connection (so that every path's clock includes its connect()), timed from
 * the send to the response head; throws unless it is a 200. Returns milliseconds.
 */
export async function timedGet(port: number, host: string): Promise<number> {
  const client = new Client(`http://127.0.0.1:${port}`);
  try {
    const t0 = performance.now();
    const res = await client.request({ path: '/', method: 'GET', headers: { host } });
    const ms = performance.now() - t0;
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`cold start of ${host} answered ${res.statusCode}`);
    return ms;
  } finally {
    await client.close();
  }
}
