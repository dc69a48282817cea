// Issue 16: an HAProxy tier over three wakegate hosts, each in a network namespace of its own, all on one
// config of 30 tenants. A steady load runs through HAProxy while one host's gateway is SIGKILLed and then
// brought back: its tenants cold-start once each on another host, every request after HAProxy marks the
// host down succeeds, and on its return consistent hashing moves back exactly its own tenants.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { Haproxy } from '../../bench/haproxy.js';
import { CLI, runGateway, type GatewayProcess } from '../helpers/cli.js';
import { FIXTURE_APP } from '../helpers/gateway.js';
import { inHost, netnsHosts, type NetnsHost } from '../helpers/netns.js';
import { freePort } from '../helpers/prometheus.js';
import { needTools } from '../helpers/tools.js';

const TENANTS = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, '0')}`);
const TOKEN = 'haproxy-tier-test-token';
const FRONT_PORT = 8080;
const ADMIN_PORT = 9090;
// Between two requests of the one client: a bounded load, and one request in flight at a time, which is
// what keeps hash-balance-factor from ever moving a tenant (a host with none in flight is always eligible).
const PAUSE_MS = 5;

interface Sample {
  readonly tenant: string;
  readonly startedAt: number;
  readonly status: number | string;
}

/** One wakegate config for every host: every tenant everywhere, and never an idle stop during the test. */
function configDoc(): Record<string, unknown> {
  const apps = Object.fromEntries(
    TENANTS.map((name) => [name, { hosts: [`${name}.tier.test`], command: [process.execPath, 'app.mjs'], dir: FIXTURE_APP, runtime: 'process', idleTimeout: '10m' }]),
  );
  return { listen: { http: `:${FRONT_PORT}` }, admin: { listen: `:${ADMIN_PORT}`, token: TOKEN }, shutdownTimeout: '2s', apps };
}

/** The hosts each tenant cold-started on, in time order, from every gateway's log lines (the killed one's included). */
function coldStarts(gateways: ReadonlyMap<string, GatewayProcess[]>): Map<string, string[]> {
  const all: Array<{ tenant: string; host: string; time: number }> = [];
  for (const [host, processes] of gateways) {
    for (const gw of processes) {
      for (const line of gw.lines) {
        if (typeof line.app === 'string' && line.msg.startsWith('cold start of ') && line.result === 'ok') all.push({ tenant: line.app, host, time: Date.parse(String(line.time)) });
      }
    }
  }
  all.sort((a, b) => a.time - b.time);
  const starts = new Map<string, string[]>(TENANTS.map((tenant) => [tenant, []]));
  for (const s of all) starts.get(s.tenant)!.push(s.host);
  return starts;
}

/** The client: one request after another, round-robin over the tenants, until `stop` says so. */
class Load {
  readonly samples: Sample[] = [];
  private stopping = false;
  private readonly agent = new Agent({ connections: 1, headersTimeout: 20_000, bodyTimeout: 20_000 });
  private readonly done: Promise<void>;

  constructor(private readonly port: number) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    for (let i = 0; !this.stopping; i++) {
      const tenant = TENANTS[i % TENANTS.length]!;
      const startedAt = Date.now();
      const status = await request(`http://127.0.0.1:${this.port}/`, { headers: { host: `${tenant}.tier.test` }, dispatcher: this.agent }).then(
        async (res) => (await res.body.text(), res.statusCode),
        (err: Error & { code?: string }) => err.code ?? err.message,
      );
      this.samples.push({ tenant, startedAt, status });
      await sleep(PAUSE_MS);
    }
  }

  /** Resolves once `rounds` more full rounds over the tenants have been sent after `since`. */
  async rounds(rounds: number, since: number): Promise<void> {
    while (this.samples.filter((s) => s.startedAt >= since).length < rounds * TENANTS.length) await sleep(20);
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.done;
    this.stopping = true;
    await this.done;
    await this.agent.close();
  }
}

t.test('three wakegate hosts behind HAProxy: failover and return of one host', { skip: process.getuid?.() !== 0 ? 'needs root: network namespaces' : false }, async (t) => {
  if (!needTools(t, { ip: 'iproute2', haproxy: 'haproxy' })) return;
  const hosts = netnsHosts(t, 3);
  const dir = mkdtempSync(join(tmpdir(), 'wg-tier-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const doc = configDoc();
  const gateways = new Map<string, GatewayProcess[]>();
  const startGateway = async (host: NetnsHost, reuseDir?: string): Promise<GatewayProcess> => {
    const gw = await runGateway(t, doc, reuseDir, { wrap: inHost(host, []) });
    gateways.set(host.address, [...(gateways.get(host.address) ?? []), gw]);
    return gw;
  };
  for (const host of hosts) await startGateway(host);

  // The tier's config comes from the command operators run, checked by HAProxy before it starts.
  const port = await freePort();
  const generated = spawnSync(process.execPath, [CLI, 'haproxy-config', '-c', gateways.get(hosts[0]!.address)![0]!.configFile, '--bind', `127.0.0.1:${port}`, ...hosts.flatMap((h) => ['--server', h.address])], { encoding: 'utf8' });
  t.equal(generated.status, 0, `haproxy-config: ${generated.stderr}`);
  const haproxy = await Haproxy.run(dir, generated.stdout, port, { WAKEGATE_ADMIN_TOKEN: TOKEN });
  t.teardown(() => haproxy.stop());

  const load = new Load(port);
  t.teardown(() => load.stop());
  const began = Date.now();
  await load.rounds(3, began);
  const before = coldStarts(gateways);
  const owner = new Map([...before].map(([tenant, where]) => [tenant, where[0]!]));
  t.same([...before.values()].filter((where) => where.length !== 1), [], 'every tenant cold-started exactly once, on one host');
  t.same(load.samples.filter((s) => s.status !== 200), [], 'every request succeeded before the failure');
  const share = (address: string): string[] => TENANTS.filter((tenant) => owner.get(tenant) === address);
  const victim = [...hosts].sort((a, b) => share(b.address).length - share(a.address).length)[0]!;
  const moved = share(victim.address);
  t.comment(`tenants per host: ${hosts.map((h) => `${h.address} ${share(h.address).length}`).join(', ')}; killing ${victim.address}`);
  t.ok(moved.length > 0, 'the host to kill runs tenants');

  const killedAt = Date.now();
  gateways.get(victim.address)![0]!.child.kill('SIGKILL');
  const server = `wg_${victim.address}_${FRONT_PORT}`;
  await haproxy.waitForLine(new RegExp(`${server} is DOWN`), 15_000);
  const downAt = Date.now();
  await load.rounds(3, downAt);
  const during = load.samples.filter((s) => s.startedAt >= killedAt);
  const failed = during.filter((s) => s.status !== 200);
  t.same(during.filter((s) => s.startedAt >= downAt && s.status !== 200), [], 'every request after HAProxy marked the host down succeeded');
  const afterKill = coldStarts(gateways);
  for (const tenant of TENANTS) {
    const again = afterKill.get(tenant)!.slice(before.get(tenant)!.length);
    if (moved.includes(tenant)) t.ok(again.length === 1 && again[0] !== victim.address, `${tenant} cold-started once on another host (${again.join(', ') || 'none'})`);
    else t.same(again, [], `${tenant} stayed where it ran`);
  }
  const lastFailure = failed.length > 0 ? Math.max(...failed.map((s) => s.startedAt)) - killedAt : null;
  t.comment(`failover: HAProxy marked the host down ${downAt - killedAt} ms after the SIGKILL; ${failed.length} of ${during.length} requests failed (${failed.map((s) => `${s.tenant}: ${s.status}`).join(', ') || 'none'}), the last one sent ${lastFailure ?? '-'} ms after the kill`);
  t.comment(`moved: ${moved.map((tenant) => `${tenant} → ${afterKill.get(tenant)!.at(-1)}`).join(', ')}`);

  const returnedAt = Date.now();
  await startGateway(victim, gateways.get(victim.address)![0]!.dir);
  await haproxy.waitForLine(new RegExp(`${server} is UP`), 15_000);
  const upAt = Date.now();
  await load.rounds(3, upAt);
  await load.stop();
  t.same(load.samples.filter((s) => s.startedAt >= returnedAt && s.status !== 200), [], 'every request succeeded while the host came back');
  const afterReturn = coldStarts(gateways);
  const back = TENANTS.filter((tenant) => afterReturn.get(tenant)!.length > afterKill.get(tenant)!.length);
  t.same(back, moved, 'exactly the returned host\'s own tenants moved back');
  for (const tenant of back) t.same(afterReturn.get(tenant)!.slice(afterKill.get(tenant)!.length), [victim.address], `${tenant} cold-started once, on the returned host`);
  t.comment(`return: HAProxy marked the host up ${upAt - returnedAt} ms after its gateway started; ${back.length} of ${TENANTS.length} tenants moved back (${back.join(', ')})`);
  t.comment(`${load.samples.length} requests in ${Date.now() - began} ms`);
});
