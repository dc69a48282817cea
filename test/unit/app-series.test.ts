// The per-app metric families, written as text at scrape time, against prom-client doing what prom.ts did
// before: counters seeded at 0 for every configured app, and gauges reset and refilled at each scrape.
import t from 'tap';
import { Counter, Gauge, Registry } from 'prom-client';
import type { AppState, ExitReason } from '../../src/activator/recorder.js';
import { AppCounter, labelValue } from '../../src/metrics/app-series.js';
import { PromRecorder, type AppGauges } from '../../src/metrics/prom.js';
import { mulberry32 } from '../helpers/seeded-random.js';

const STATES: readonly AppState[] = ['stopped', 'starting', 'running', 'frozen', 'stopping'];
const REASONS: readonly ExitReason[] = ['idle', 'crash', 'oom', 'evicted'];
const PER_APP = /^(# (HELP|TYPE) )?wakegate_(cold_starts_total|instance_exits_total|app_state|inflight_requests|queued_requests|app_connections|app_dependency|app_held|instance_memory_bytes)\b/;

/** The per-app families of a scrape, each family's lines sorted (the order of series in a family is free). */
function families(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (!PER_APP.test(line)) continue;
    const name = /wakegate_\w+/.exec(line)![0];
    (out.get(name) ?? out.set(name, []).get(name)!).push(line);
  }
  for (const lines of out.values()) lines.sort();
  return out;
}

/** What prom.ts did before, through prom-client's own objects. */
function reference(apps: () => AppGauges[]): { registry: Registry; coldStarts: Counter<'app' | 'result'>; exits: Counter<'app' | 'reason'> } {
  const registry = new Registry();
  const registers = [registry];
  const coldStarts: Counter<'app' | 'result'> = new Counter({
    name: 'wakegate_cold_starts_total', help: 'Cold starts, by result (ok, failed, timeout).', labelNames: ['app', 'result'], registers,
    collect: () => apps().forEach((a) => coldStarts.inc({ app: a.name, result: 'ok' }, 0)),
  });
  const exits: Counter<'app' | 'reason'> = new Counter({
    name: 'wakegate_instance_exits_total', help: 'Instance exits, by reason.', labelNames: ['app', 'reason'], registers,
    collect: () => apps().forEach((a) => exits.inc({ app: a.name, reason: 'idle' }, 0)),
  });
  const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (g: Gauge<L>) => Promise<void> | void): void => {
    const g: Gauge<L> = new Gauge<L>({ name, help, labelNames, registers, collect: () => (g.reset(), fill(g)) });
  };
  gauge('wakegate_app_state', 'Current state of each app: 1 for the state it is in, 0 for the others.', ['app', 'state'], (g) => apps().forEach((a) => STATES.forEach((s) => g.set({ app: a.name, state: s }, s === a.state ? 1 : 0))));
  gauge('wakegate_inflight_requests', 'Requests being served by the app now.', ['app'], (g) => apps().forEach((a) => g.set({ app: a.name }, a.inflight)));
  gauge('wakegate_queued_requests', 'Requests waiting for the app to start.', ['app'], (g) => apps().forEach((a) => g.set({ app: a.name }, a.queued)));
  gauge('wakegate_app_connections', "Connections on the app's own sockets (socket mode), from the last kernel sample.", ['app'], (g) => apps().forEach((a) => g.set({ app: a.name }, a.connections)));
  gauge('wakegate_app_dependency', 'The dependsOn relation: 1 for each app and each app it depends on.', ['app', 'dependency'], (g) => apps().forEach((a) => a.spec.dependsOn?.forEach((d) => g.set({ app: a.name, dependency: d }, 1))));
  gauge('wakegate_app_held', 'Why an app is awake besides its own use: 1 for each app and each dependent that runs now and so holds it up.', ['app', 'dependent'], (g) => apps().forEach((a) => a.heldBy.forEach((d) => g.set({ app: a.name, dependent: d }, 1))));
  gauge('wakegate_instance_memory_bytes', 'Memory of each running instance (container cgroup, or process RSS).', ['app'], async (g) => {
    for (const a of apps()) {
      const bytes = a.instance ? (await a.instance.stats()).memoryBytes : null;
      if (bytes !== null) g.set({ app: a.name }, bytes);
    }
  });
  return { registry, coldStarts, exits };
}

t.test('the per-app families scrape as prom-client filled afresh would show them, through events and reloads', async (t) => {
  const random = mulberry32(7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  // Names a config allows and ones it does not: the escaping must hold for any label value.
  const names = ['a', 'b-2', 'c_3', 'quote"d', 'back\\slash', 'new\nline', 'e', 'f'];
  let apps: AppGauges[] = [];
  const configure = (): void => {
    apps = names.filter(() => random() < 0.7).map((name) => {
      const memoryBytes = random() < 0.8 ? Math.floor(random() * 1e9) : null;
      const instance = random() < 0.5 ? { stats: async () => ({ memoryBytes, cpuNs: null }) } : undefined;
      return {
        name, state: pick(STATES), inflight: Math.floor(random() * 5), queued: Math.floor(random() * 3), connections: Math.floor(random() * 4), instance,
        spec: random() < 0.4 ? { dependsOn: [pick(names)] } : {}, heldBy: random() < 0.3 ? [pick(names)] : [],
      };
    });
  };
  configure();
  const ours = new PromRecorder(() => apps);
  const ref = reference(() => apps);
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 30; i++) {
      const app = pick(names);
      if (random() < 0.5) {
        const result = pick(['ok', 'failed', 'timeout', 'abandoned'] as const);
        ours.coldStart(app, { instance: undefined, result, spawnMs: undefined, firstByteMs: undefined });
        ref.coldStarts.inc({ app, result });
      } else {
        const reason = pick(REASONS);
        ours.instanceExited(app, { instance: 'i', pid: 1, reason, exit: { code: 0, signal: null }, lifetimeMs: 1 });
        ref.exits.inc({ app, reason });
      }
    }
    const mine = families(await ours.text());
    const theirs = families(await ref.registry.metrics());
    // prom-client leaves a seeded 0 for an app a reload removed; ours seeds only the apps configured now.
    const configured = new Set(apps.map((a) => labelValue(a.name)));
    for (const name of ['wakegate_cold_starts_total', 'wakegate_instance_exits_total']) {
      theirs.set(name, theirs.get(name)!.filter((l) => !/ 0$/.test(l) || l.startsWith('#') || configured.has(/app="((?:[^"\\]|\\.)*)"/.exec(l)![1]!)));
    }
    t.same(mine, theirs, `round ${round}: the same families, series and values (${apps.length} apps)`);
    if (random() < 0.5) configure();
  }
});

t.test('an app counter stores only what was counted, and seeds every configured app at 0', async (t) => {
  const counter = new AppCounter<'idle' | 'crash'>('x_total', 'X.', 'reason', 'idle');
  const configured = Array.from({ length: 1000 }, (_, i) => ({ name: `app${i}` }));
  counter.inc('app7', 'crash');
  counter.inc('gone', 'idle', 2);
  const lines = counter.render(configured).split('\n');
  t.equal(lines.length, 2 + 1000 + 1 + 1, 'HELP, TYPE, a 0 for each configured app, its count, and the removed app\'s count');
  t.ok(lines.includes('x_total{app="app7",reason="idle"} 0') && lines.includes('x_total{app="app7",reason="crash"} 1'), 'a counted app keeps its seed');
  t.ok(lines.includes('x_total{app="gone",reason="idle"} 2'), 'counts of an app no longer configured stay');
  t.equal(counter.get('app1', 'idle'), 0);
  t.equal(counter.get('gone', 'idle'), 2);
});
