import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureApp, get } from '../helpers/gateway.js';
import { configDoc, runGateway, spawnGateway, type SpawnedGateway } from '../helpers/cli.js';

/**
 * A gateway whose config file is a FIFO: it blocks in loadConfig until the test writes the config, so a
 * signal sent once `feed` has the FIFO open reaches the process at a known point of its start-up.
 */
function fifoGateway(t: Test): { gw: SpawnedGateway; runtimeDir: string; opened: () => Promise<(doc: unknown) => Promise<void>> } {
  const dir = mkdtempSync(join(tmpdir(), 'wg-signals-'));
  const fifo = join(dir, 'wakegate.json');
  execFileSync('mkfifo', [fifo]);
  const runtimeDir = join(dir, 'run');
  const gw = spawnGateway(t, fifo, { cleanup: () => rmSync(dir, { recursive: true, force: true }) });
  // Opening a FIFO for writing completes once the reader (the gateway reading its config) has opened it.
  const opened = async (): Promise<(doc: unknown) => Promise<void>> => {
    const handle = await open(fifo, 'w');
    return async (doc) => {
      await handle.writeFile(JSON.stringify(configDoc(runtimeDir, doc)));
      await handle.close();
    };
  };
  return { gw, runtimeDir, opened };
}

const one = { apps: { one: fixtureApp(['one.localhost']) } };
const two = { apps: { one: fixtureApp(['one.localhost']), two: fixtureApp(['two.localhost']) } };
const portOf = (line: Record<string, unknown>): number => (line.address as { port: number }).port;

t.test('SIGHUP during start-up: the process survives, and the reload is applied once it runs', async (t) => {
  const { gw, opened } = fifoGateway(t);
  const feed = await opened();
  gw.child.kill('SIGHUP');
  // Once the signal is delivered (or the default action has ended the process), the start goes on.
  await feed(one);
  const ready = await Promise.race([gw.waitFor((l) => l.msg === 'wakegate listening'), gw.exited]);
  t.ok('msg' in ready, 'the gateway lives on, and listens');
  await gw.waitFor((l) => l.msg === 'received SIGHUP during start-up, reloading now');
  // The queued reload reads the file again: the config it finds now is the one applied.
  await (await opened())(two);
  t.match(await gw.waitFor((l) => l.msg === 'config reloaded'), { added: ['two'] });
  const port = portOf(gw.lines.find((l) => l.msg === 'wakegate listening')!);
  t.equal((await get(port, 'two.localhost')).status, 200, 'the app the reload added serves');
});

t.test('SIGTERM during start-up: the gateway starts, then shuts down cleanly, exit 0', async (t) => {
  const { gw, opened } = fifoGateway(t);
  const feed = await opened();
  gw.child.kill('SIGTERM');
  await feed(one);
  t.same(await gw.exited, { code: 0, signal: null }, 'exit 0, not death by SIGTERM');
  const msgs = gw.lines.map((l) => l.msg);
  t.ok(msgs.includes('wakegate listening') && msgs.includes('received a stop signal during start-up, shutting down'), 'it started, then stopped');
  t.equal(msgs.at(-1), 'shutdown complete');
});

t.test('SIGHUP during shutdown is refused; the shutdown completes with exit 0', async (t) => {
  const gw = await runGateway(t, { shutdownTimeout: '20s', apps: { slow: fixtureApp(['slow.localhost']) } });
  // An in-flight request holds the shutdown open for as long as it takes.
  const slow = get(gw.port, 'slow.localhost', '/slow?ms=1500');
  await gw.waitFor((l) => l.app === 'slow' && l.to === 'starting');
  gw.child.kill('SIGTERM');
  await gw.waitFor((l) => l.msg === 'shutting down');
  gw.child.kill('SIGHUP');
  await gw.waitFor((l) => l.msg === 'reload refused: the gateway is shutting down');
  t.equal((await slow).status, 200, 'the in-flight request finishes');
  t.same(await gw.exited, { code: 0, signal: null });
  t.notOk(gw.lines.some((l) => l.msg === 'config reloaded'), 'nothing was reloaded');
  t.ok(gw.lines.findIndex((l) => l.msg === 'reload refused: the gateway is shutting down') < gw.lines.findIndex((l) => l.msg === 'shutdown complete'), 'refused during the shutdown');
});
