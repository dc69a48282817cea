/** Structural mutations, on the parsed object of a seed config. */
import type { Generation } from './generation.js';
import { clone, type Json, type JsonObject, put } from './json-value.js';
import { deepNest, depthFor, KNOWN_KEYS, nastyValue, ODD_KEYS, PLAUSIBLE } from './mutation-values.js';

type Container = Json[] | JsonObject;
interface Location {
  parent: Container;
  key: string;
  path: string;
}

function isContainer(v: Json): v is Container {
  return typeof v === 'object' && v !== null;
}

/** Every (parent, key) under `root`, breadth first, bounded so deeply nested junk is not walked in full. */
function locations(root: JsonObject): Location[] {
  const out: Location[] = [];
  const queue: { node: Container; path: string; depth: number }[] = [{ node: root, path: '', depth: 0 }];
  for (let i = 0; i < queue.length && out.length < 3000; i++) {
    const { node, path, depth } = queue[i]!;
    for (const key of Object.keys(node)) {
      const child = Array.isArray(node) ? node[Number(key)]! : node[key]!;
      const childPath = Array.isArray(node) ? `${path}[${key}]` : `${path}.${key.length > 20 ? `${key.slice(0, 17)}...` : key}`;
      out.push({ parent: node, key, path: childPath });
      if (isContainer(child) && depth < 12) queue.push({ node: child, path: childPath, depth: depth + 1 });
    }
  }
  return out;
}

function get(loc: Location): Json {
  return Array.isArray(loc.parent) ? loc.parent[Number(loc.key)]! : loc.parent[loc.key]!;
}

function set(loc: Location, value: Json): void {
  if (Array.isArray(loc.parent)) loc.parent[Number(loc.key)] = value;
  else put(loc.parent, loc.key, value);
}

function describeValue(v: Json): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = typeof v;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) s = String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...(${s.length})` : s;
}

function replacement(g: Generation, key: string): Json {
  const plausible = Object.hasOwn(PLAUSIBLE, key) ? PLAUSIBLE[key] : undefined;
  return plausible && g.r.chance(0.5) ? clone(g.r.pick(plausible)) : nastyValue(g);
}

export function mutateStructure(g: Generation, doc: JsonObject): void {
  const { r } = g;
  const locs = locations(doc);
  if (locs.length === 0) return;
  const loc = r.pick(locs);
  const parentKey = (l: Location): string => (Array.isArray(l.parent) ? '' : l.key);
  switch (r.int(10)) {
    case 0: {
      if (Array.isArray(loc.parent)) loc.parent.splice(Number(loc.key), 1);
      else delete loc.parent[loc.key];
      g.ops.push(`delete ${loc.path}`);
      return;
    }
    case 1:
    case 2: {
      const v = replacement(g, parentKey(loc));
      set(loc, v);
      g.ops.push(`set ${loc.path} = ${describeValue(v)}`);
      return;
    }
    case 3: {
      const other = r.pick(locs);
      const [a, b] = [clone(get(loc)), clone(get(other))];
      set(loc, b);
      set(other, a);
      g.ops.push(`swap ${loc.path} <-> ${other.path}`);
      return;
    }
    case 4: {
      const targets = locs.filter((l) => isContainer(get(l)));
      const target = targets.length > 0 && r.chance(0.8) ? get(r.pick(targets)) : doc;
      if (!isContainer(target)) return;
      const key = r.chance(0.5) ? r.pick(KNOWN_KEYS) : r.pick(ODD_KEYS);
      const v = replacement(g, key);
      if (Array.isArray(target)) target.push(v);
      else put(target, key, v);
      g.ops.push(`add ${JSON.stringify(key).slice(0, 30)} = ${describeValue(v)}`);
      return;
    }
    case 5: {
      // A host claimed twice, by the same app or by another.
      const hostLists = locs.filter((l) => l.key === 'hosts' && Array.isArray(get(l)));
      if (hostLists.length === 0) return;
      const from = get(r.pick(hostLists));
      const to = get(r.pick(hostLists));
      if (Array.isArray(from) && Array.isArray(to) && from.length > 0) {
        const host = r.pick(from);
        // A copy: `from` may hold `to` (hosts nested in hosts), and pushing it itself would make a cycle.
        to.push(r.chance(0.3) && typeof host === 'string' ? host.toUpperCase() : clone(host));
        g.ops.push(`duplicate host ${describeValue(host)}`);
      }
      return;
    }
    case 6: {
      // Another app with a copy of an existing one (and so the same hosts), under an odd or fine name.
      const apps = doc.apps;
      if (!isContainer(apps) || Array.isArray(apps)) return;
      const names = Object.keys(apps);
      if (names.length === 0) return;
      const name = r.chance(0.5) ? r.pick(ODD_KEYS) : `copy-${r.int(100)}`;
      put(apps, name, clone(apps[r.pick(names)]!));
      g.ops.push(`copy an app to ${JSON.stringify(name).slice(0, 30)}`);
      return;
    }
    case 7: {
      const depth = depthFor(g, r.pick([5, 30, 63, 64, 65, 100, 500, 2000]));
      set(loc, deepNest(r, get(loc), depth));
      g.ops.push(`nest ${loc.path} ${depth} deep`);
      return;
    }
    case 8: {
      const v = get(loc);
      set(loc, r.chance(0.5) ? [v] : { [parentKey(loc) || 'x']: v });
      g.ops.push(`wrap ${loc.path}`);
      return;
    }
    default: {
      if (Array.isArray(loc.parent)) return;
      const v = get(loc);
      delete loc.parent[loc.key];
      const key = r.pick([loc.key.toUpperCase(), `${loc.key} `, `${loc.key}s`, r.pick(KNOWN_KEYS), r.pick(ODD_KEYS)]);
      put(loc.parent, key, v);
      g.ops.push(`rename ${loc.path} to ${JSON.stringify(key).slice(0, 30)}`);
    }
  }
}
