import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/gateway.js';

interface SoakReport {
  summary: {
    requests: { get: number; upload: number; ws: number };
    unexpected5xx: number;
    otherStatus: number;
    mismatches: number;
    errors: number;
    coldStarts: number;
    fds: { early: number | null; late: number | null; growthPct: number | null };
    rssMiB: { early: number | null; late: number | null; growthPct: number | null };
    fdStart: number;
    fdIdleEnd: number;
  };
  incidents: unknown[];
}

const SECONDS = 60;
// The soak itself, plus the gateway's start, the wind-down (every app idles out) and the shutdown.
t.setTimeout((SECONDS + 120) * 1000);

t.test(`soak: ${SECONDS} s of mixed load over 50 churning apps`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-soak-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'soak.json');
  const child = spawn(process.execPath, [join(ROOT, 'dist/bench/soak.js')], {
    env: { ...process.env, SOAK_SECONDS: String(SECONDS), SOAK_OUT: out },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const killer = setTimeout(() => child.kill('SIGTERM'), (SECONDS + 100) * 1000);
  t.teardown(() => {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 0, 'the soak ran to its end');
  const report = JSON.parse(readFileSync(out, 'utf8')) as SoakReport;
  const s = report.summary;
  // The table and the summary, as the soak printed them (gateway log lines aside).
  for (const line of stdout.split('\n')) if (line && !line.startsWith('{')) t.comment(line);
  t.ok(s.requests.get > 0 && s.requests.upload > 0 && s.requests.ws > 0, 'every kind of exchange ran');
  t.ok(s.coldStarts > 50, `the apps churned: ${s.coldStarts} cold starts`);
  t.equal(s.unexpected5xx, 0, 'no 5xx');
  t.equal(s.mismatches, 0, 'no echoed byte count or message differed');
  t.equal(s.errors, 0, 'no transport error: every exchange got an answer within its bound');
  t.equal(s.otherStatus, 0, 'no answer other than 200');
  t.ok(s.fdIdleEnd - s.fdStart <= 5, `no fd leak: ${s.fdStart} fds at the start, ${s.fdIdleEnd} once every app was idle again`);
  t.comment(`RSS ${s.rssMiB.early?.toFixed(1)} -> ${s.rssMiB.late?.toFixed(1)} MiB (${s.rssMiB.growthPct?.toFixed(1)}%), not asserted: a 60 s run is mostly warm-up`);
  if (report.incidents.length) t.comment(`incidents: ${JSON.stringify(report.incidents.slice(0, 5))}`);
});
