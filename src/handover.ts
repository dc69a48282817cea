import { readdirSync, readlinkSync } from 'node:fs';
import type { AppActivator } from './activator/app-activator.js';
import type { AppSpec } from './config/types.js';
import { DEFAULTS } from './defaults.js';
import type { Logger } from './log.js';
import { InstanceIds } from './runtime/instance-ids.js';
import type { Instance, Runtime, Survivor } from './runtime/runtime.js';
import { specDigest } from './runtime/spec-digest.js';

/** The apps as the hand-over needs them; declared here, implemented by AppRegistry. */
export interface HandoverApps {
  get(name: string): AppActivator | undefined;
  /** The app's sockets as its instances hold them (inodes). */
  listeners(name: string): ReadonlyArray<{ readonly inode: number }>;
}

/**
 * Whether the gateway stops only to be started again, so that the instances that can outlive it stay
 * running for the next one: asked of every runtime that can tell. Any doubt (a failed question) means no.
 */
export async function handingOver(runtimes: readonly Runtime[], log: Logger): Promise<boolean> {
  const answers = await Promise.all(
    runtimes.map((r) =>
      r.handingOver ? r.handingOver().catch((err: unknown) => (log.warn({ err, runtime: r.kind }, 'cannot tell a restart from a stop; stopping the instances'), false)) : false,
    ),
  );
  return answers.some(Boolean);
}

/**
 * Takes over what a previous gateway left running (a restart, or a crash), before the front serves: an
 * instance is adopted when its app is configured on the same runtime with the same spec, and it holds
 * the app's current sockets (taken back from the fd store); the newest instance of an app wins. Every
 * other one is stopped, and waited for, since it may share a socket with what this gateway serves.
 */
export async function adoptSurvivors(runtimes: readonly Runtime[], apps: HandoverApps, runtimeFor: (spec: AppSpec) => Runtime, log: Logger): Promise<void> {
  const stops: Promise<unknown>[] = [];
  for (const runtime of runtimes) {
    let survivors: Survivor[];
    try {
      survivors = (await runtime.survivors?.(log)) ?? [];
    } catch (err) {
      log.warn({ err, runtime: runtime.kind }, 'cannot list the instances a previous gateway left running; none is adopted');
      continue;
    }
    for (const survivor of [...survivors].sort((a, b) => serial(b) - serial(a))) {
      const app = apps.get(survivor.app);
      const fields = { app: survivor.app, instance: survivor.id, pid: survivor.pid };
      let instance: Instance;
      try {
        instance = survivor.adopt(log.child({ app: survivor.app }));
      } catch (err) {
        log.info({ ...fields, err }, 'an instance of a previous gateway ended before it could be adopted');
        continue;
      }
      const why = refusal(survivor, app, runtime, runtimeFor, apps);
      if (why !== undefined || !app) {
        log.warn({ ...fields, reason: why }, `stopping instance ${survivor.id} of a previous gateway: ${why}`);
        stops.push(instance.stop(app?.spec.stopTimeoutMs ?? DEFAULTS.app.stopTimeoutMs));
        continue;
      }
      app.adopt(instance);
      log.info(fields, `adopted instance ${survivor.id} of a previous gateway: no cold start`);
    }
  }
  await Promise.all(stops);
}

function refusal(s: Survivor, app: AppActivator | undefined, runtime: Runtime, runtimeFor: (spec: AppSpec) => Runtime, apps: HandoverApps): string | undefined {
  if (!app) return 'no app of that name is configured';
  if (runtimeFor(app.spec) !== runtime) return `app ${s.app} runs on ${runtimeFor(app.spec).kind} now`;
  if (s.digest !== specDigest(app.spec)) return `the config of app ${s.app} changed since it started`;
  if (app.state !== 'stopped') return `a newer instance of app ${s.app} (${app.instance?.id}) was adopted`;
  const missing = apps.listeners(s.app).filter((l) => !holds(s.pid).has(l.inode));
  if (missing.length > 0) return `it does not hold the current sockets of app ${s.app} (made anew: the fd store did not keep them)`;
  return undefined;
}

function serial(s: Survivor): number {
  return InstanceIds.parse(s.id)?.n ?? 0;
}

/** The socket inodes a process holds, from /proc/<pid>/fd (`socket:[inode]`). */
function holds(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}
