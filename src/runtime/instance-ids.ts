/** Instance ids are `wakegate-<app>-<n>`; the prefix is how leftovers of a dead gateway are recognised. */
export const INSTANCE_PREFIX = 'wakegate-';

/**
 * Numbers instances per app, 1, 2, ... for the gateway's life, shared by the runtimes so that an app moved
 * from one runtime to another by a reload never reuses an id (their cgroups share one parent directory).
 */
export class InstanceIds {
  private readonly serials = new Map<string, number>();

  /** An instance of `app` numbered `n` exists already (a previous gateway's, adopted): the next is above it. */
  reserve(app: string, n: number): void {
    this.serials.set(app, Math.max(n, this.serials.get(app) ?? 0));
  }

  /** The app and number of an id, or undefined for a name that is not an instance id. */
  static parse(id: string): { app: string; n: number } | undefined {
    const m = /^wakegate-(.+)-([1-9]\d*)$/.exec(id);
    return m ? { app: m[1]!, n: Number(m[2]) } : undefined;
  }

  next(app: string): string {
    const n = (this.serials.get(app) ?? 0) + 1;
    this.serials.set(app, n);
    return `${INSTANCE_PREFIX}${app}-${n}`;
  }
}
