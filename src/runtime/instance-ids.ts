/** Instance ids are `wakegate-<app>-<n>`; the prefix is how leftovers of a dead gateway are recognised. */
export const INSTANCE_PREFIX = 'wakegate-';

/**
 * Numbers instances per app, 1, 2, ... for the gateway's life, shared by the runtimes so that an app moved
 * from one runtime to another by a reload never reuses an id (their cgroups share one parent directory).
 */
export class InstanceIds {
  private readonly serials = new Map<string, number>();

  next(app: string): string {
    const n = (this.serials.get(app) ?? 0) + 1;
    this.serials.set(app, n);
    return `${INSTANCE_PREFIX}${app}-${n}`;
  }
}
