/**
 * The per-app metric families, written as Prometheus text at each scrape and kept by nobody between
 * scrapes. Through prom-client, every series lived in its metric's map until reset: gauges filled at each
 * scrape and counters seeded at 0 for each app kept about 2.6 KB per configured app alive after the first
 * scrape, and each scrape made some 300 bytes of short-lived objects per line (100,000 lines at 10,000
 * apps), which the heap kept as RSS. Here a scrape makes one string per line.
 */

/** One family in the text exposition format (0.0.4): its HELP and TYPE lines, then its samples. */
export function family(name: string, help: string, type: 'gauge' | 'counter', samples: readonly string[]): string {
  return [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`, ...samples].join('\n');
}

/** A label value as the format quotes it. */
export function labelValue(value: string): string {
  return /["\\\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

/**
 * A counter by app and one more label, stored only for what was counted. Its `seed` series reads 0 for
 * every configured app until counted, so that Prometheus's increase() counts an app's first event too.
 * Counts of an app a reload removed stay, as a counter's do.
 */
export class AppCounter<V extends string> {
  readonly #counts = new Map<string, Map<V, number>>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly label: string,
    readonly seed: V,
  ) {}

  inc(app: string, value: V, by = 1): void {
    let counts = this.#counts.get(app);
    if (!counts) this.#counts.set(app, (counts = new Map()));
    counts.set(value, (counts.get(value) ?? 0) + by);
  }

  /** The count so far (the tests read it). */
  get(app: string, value: V): number {
    return this.#counts.get(app)?.get(value) ?? 0;
  }

  render(apps: Iterable<{ readonly name: string }>): string {
    const samples: string[] = [];
    const done = new Set<string>();
    for (const { name } of apps) {
      if (done.has(name)) continue;
      done.add(name);
      this.#samples(name, samples, true);
    }
    for (const name of this.#counts.keys()) if (!done.has(name)) this.#samples(name, samples, false);
    return family(this.name, this.help, 'counter', samples);
  }

  #samples(app: string, out: string[], configured: boolean): void {
    const counts = this.#counts.get(app);
    const quoted = labelValue(app);
    if (configured && !counts?.has(this.seed)) out.push(`${this.name}{app="${quoted}",${this.label}="${this.seed}"} 0`);
    for (const [value, n] of counts ?? []) out.push(`${this.name}{app="${quoted}",${this.label}="${labelValue(value)}"} ${n}`);
  }
}
