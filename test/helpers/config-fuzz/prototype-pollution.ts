/** Changes to the built-in prototypes since `baseline` (keys added), and inherited junk on a fresh object. */
export function pollution(baseline: Map<string, Set<PropertyKey>>): string[] {
  const found: string[] = [];
  const probe: { polluted?: unknown; isAdmin?: unknown; yes?: unknown } = {};
  if (probe.polluted !== undefined || probe.isAdmin !== undefined || probe.yes !== undefined) found.push('({}).polluted and the like are defined');
  for (const [name, keys] of prototypeKeys()) {
    const before = baseline.get(name) ?? new Set<PropertyKey>();
    for (const k of keys) if (!before.has(k)) found.push(`${name} gained ${String(k)}`);
  }
  return found;
}

/** The own keys of the built-in prototypes: the baseline for `pollution`. */
export function prototypeKeys(): Map<string, Set<PropertyKey>> {
  const protos: [string, object][] = [
    ['Object.prototype', Object.prototype],
    ['Array.prototype', Array.prototype],
    ['Function.prototype', Function.prototype],
    ['String.prototype', String.prototype],
  ];
  return new Map(protos.map(([name, proto]) => [name, new Set(Reflect.ownKeys(proto))]));
}
