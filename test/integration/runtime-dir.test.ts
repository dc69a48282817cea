import t, { type Test } from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { validateConfig } from '../../src/config/schema.js';
import { RuntimeDirLockedError, RuntimeDirUnsafeError } from '../../src/errors.js';
import { Gateway } from '../../src/gateway.js';
import { captureLogger, CountingRuntime, fixtureApp, get } from '../helpers/gateway.js';
import { CLI, runGateway } from '../helpers/cli.js';

const exec = promisify(execFile);
const HELLO = { hello: fixtureApp(['hello.localhost']) };

interface Attacker {
  readonly uid: number;
  readonly gid: number;
  /** Sends one command to the attacker's process and resolves with its answer line. */
  command(line: string): Promise<string>;
  /** How many connections reached the attacker's sockets so far. */
  connections(): Promise<number>;
}

/**
 * A second local user (useradd, removed with userdel -r when the test ends, failed or not) running a
 * process of its own that obeys commands on stdin: make the runtimeDir 0777 as a squatter would, rename
 * apps/ away and listen on apps/hello.sock in its place, answering every connection as "attacker".
 */
async function attacker(t: Test, runtimeDir: string): Promise<Attacker> {
  const name = `wgatk${randomBytes(4).toString('hex')}`;
  await exec('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', name]);
  let child: ChildProcess | undefined;
  t.teardown(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((done) => child!.once('exit', done));
      child.kill('SIGKILL');
      await gone;
    }
    await exec('userdel', ['-r', name]);
  });
  const uid = Number((await exec('id', ['-u', name])).stdout.trim());
  const gid = Number((await exec('id', ['-g', name])).stdout.trim());
  child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', process.execPath, '-e', ATTACKER, runtimeDir], {
    cwd: '/',
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const answers: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => (waiting.length > 0 ? waiting.shift()!(line) : answers.push(line)));
  const command = (line: string): Promise<string> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      child!.stdin!.write(`${line}\n`);
    });
  return { uid, gid, command, connections: async () => Number(await command('count')) };
}

const ATTACKER = `
const fs = require('fs'), net = require('net'), path = require('path');
const dir = process.argv[1];
let connections = 0;
const out = (s) => process.stdout.write(s + '\\n');
function listen(p) {
  const server = net.createServer((s) => { connections++; s.end('HTTP/1.1 200 OK\\r\\ncontent-length: 8\\r\\nconnection: close\\r\\n\\r\\nattacker'); });
  server.on('error', (e) => out('error ' + e.code));
  server.listen(p, () => { fs.chmodSync(p, 0o777); out('listening'); });
}
require('readline').createInterface({ input: process.stdin }).on('line', (cmd) => {
  try {
    if (cmd === 'mkdir') { fs.mkdirSync(dir); fs.chmodSync(dir, 0o777); out('ok'); }
    else if (cmd === 'hijack') {
      const apps = path.join(dir, 'apps');
      try { fs.renameSync(apps, apps + '.old'); } catch (e) { if (e.code !== 'ENOENT') throw e; }
      fs.mkdirSync(apps, { recursive: true });
      listen(path.join(apps, 'hello.sock'));
    }
    else if (cmd === 'listen') listen(path.join(dir, 'apps', 'hello.sock'));
    else if (cmd === 'count') out(String(connections));
  } catch (e) { out('error ' + e.code); }
});
`;

/** A gateway on `runtimeDir` in this process, or the error its start threw. */
async function startOn(t: Test, runtimeDir: string, apps: Record<string, unknown> = HELLO): Promise<{ gateway: Gateway; port: number } | Error> {
  const config = validateConfig({ listen: { http: '127.0.0.1:0' }, runtimeDir, shutdownTimeout: '2s', apps }, join(runtimeDir, '..', 'test.yaml'));
  const runtime = new CountingRuntime();
  try {
    const gateway = await Gateway.start(config, { log: captureLogger().log, runtimeFor: () => runtime });
    t.teardown(() => gateway.shutdown());
    return { gateway, port: gateway.address.kind === 'tcp' ? gateway.address.port : 0 };
  } catch (err) {
    return err as Error;
  }
}

/** A temp dir removed with the test; `mode` as for a parent like /tmp (01777) or a private one (0700). */
function tempDir(t: Test, mode = 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-rtdir-'));
  chmodSync(dir, mode);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a runtimeDir another user made (0777) is refused, and nothing reaches their socket', async (t) => {
  const runtimeDir = join(tempDir(t, 0o1777), 'wakegate');
  const evil = await attacker(t, runtimeDir);
  t.equal(await evil.command('mkdir'), 'ok');
  const started = await startOn(t, runtimeDir);
  // The attack of the issue, run whether or not the gateway refused: apps/ renamed away, a socket in its place.
  t.equal(await evil.command('hijack'), 'listening');
  if (!(started instanceof Error)) {
    const reply = await get(started.port, 'hello.localhost');
    t.not(reply.body, 'attacker', 'the response did not come from the attacker');
  }
  t.type(started, RuntimeDirUnsafeError);
  const err = started as RuntimeDirUnsafeError;
  t.equal(err.code, 'WG_ERR_RUNTIME_DIR_UNSAFE');
  t.match(err, { path: runtimeDir, problem: 'owner', ownerUid: evil.uid, mode: 0o777, uid: 0 });
  t.match(err.message, `${runtimeDir}`);
  t.match(err.message, `uid ${evil.uid}`);
  t.match(err.message, '0777');
  t.match(err.message, `remove it (wakegate creates it), or make it private: chown 0 ${runtimeDir} && chmod 0700 ${runtimeDir}`);
  t.same(readdirSync(runtimeDir).sort(), ['apps'], 'the gateway created nothing in it (apps/ is the attacker’s)');
  t.equal(await evil.connections(), 0, 'no connection reached the attacker');
});

t.test('a symlinked runtimeDir is refused, and nothing is made through it', async (t) => {
  const parent = tempDir(t);
  const real = join(parent, 'real');
  mkdirSync(real, { mode: 0o700 });
  const link = join(parent, 'link');
  symlinkSync(real, link);
  const started = await startOn(t, link);
  t.type(started, RuntimeDirUnsafeError);
  t.match(started, { code: 'WG_ERR_RUNTIME_DIR_UNSAFE', path: link, problem: 'symlink' });
  t.match((started as Error).message, /symbolic link .*remove it/);
  t.same(readdirSync(real), [], 'nothing was created in the link target');
});

t.test('a runtimeDir of our own uid that others may write (0777) is refused', async (t) => {
  const runtimeDir = join(tempDir(t), 'run');
  mkdirSync(runtimeDir);
  chmodSync(runtimeDir, 0o777);
  const started = await startOn(t, runtimeDir);
  t.type(started, RuntimeDirUnsafeError);
  t.match(started, { path: runtimeDir, problem: 'writable', ownerUid: 0, mode: 0o777 });
  t.match((started as Error).message, /writable by group or others \(owner uid 0, mode 0777\)/);
  t.same(readdirSync(runtimeDir), [], 'nothing was created in it');
});

t.test('a directory the gateway would create below runtimeDir is checked the same way', async (t) => {
  const runtimeDir = join(tempDir(t), 'run');
  mkdirSync(join(runtimeDir, 'apps'), { recursive: true, mode: 0o700 });
  chmodSync(join(runtimeDir, 'apps'), 0o757);
  const started = await startOn(t, runtimeDir);
  t.match(started, { code: 'WG_ERR_RUNTIME_DIR_UNSAFE', path: join(runtimeDir, 'apps'), problem: 'writable', mode: 0o757 });
  // The oci runtime's directories come from makeDirs, which every caller shares.
  const { makeDirs } = await import('../../src/runtime/dirs.js');
  const runc = join(runtimeDir, 'runc');
  const evil = await attacker(t, runtimeDir);
  mkdirSync(runc, { mode: 0o700 });
  chownSync(runc, evil.uid, evil.gid);
  t.throws(() => makeDirs(runc), { code: 'WG_ERR_RUNTIME_DIR_UNSAFE', path: runc, problem: 'owner', ownerUid: evil.uid });
  const made = join(runtimeDir, 'bundles');
  makeDirs(made);
  t.equal(statSync(made).mode & 0o777, 0o700, 'what it makes is 0700');
});

t.test('renaming apps/ away and listening in its place does not divert the gateway’s connections', async (t) => {
  const runtimeDir = join(tempDir(t, 0o755), 'run');
  const started = await startOn(t, runtimeDir);
  if (started instanceof Error) throw started;
  const evil = await attacker(t, runtimeDir);
  // Root in the test does what only a user able to write runtimeDir could: the attacker of the issue, who
  // owned it. Then the second uid listens on the old path.
  renameSync(join(runtimeDir, 'apps'), join(runtimeDir, 'apps.moved'));
  mkdirSync(join(runtimeDir, 'apps'));
  chownSync(join(runtimeDir, 'apps'), evil.uid, evil.gid);
  chmodSync(runtimeDir, 0o711);
  t.equal(await evil.command('listen'), 'listening');
  t.ok(lstatSync(join(runtimeDir, 'apps/hello.sock')).isSocket(), 'the attacker’s socket sits at the on-disk path');
  for (let i = 0; i < 3; i++) {
    const reply = await get(started.port, 'hello.localhost', '/', { connection: 'close' });
    t.not(reply.body, 'attacker', 'not answered by the attacker');
    t.equal(reply.status, 200);
    t.equal((JSON.parse(reply.body) as { path: string }).path, '/', 'answered by the real app');
  }
  t.equal(await evil.connections(), 0, 'no connection reached the attacker');
});

t.test('a second gateway on the same runtimeDir refuses at once, naming the first, and changes nothing', async (t) => {
  const first = await runGateway(t, { apps: HELLO });
  t.equal((await get(first.port, 'hello.localhost')).status, 200);
  const socket = join(first.runtimeDir, 'apps/hello.sock');
  const before = statSync(socket).ino;

  const second = spawn(process.execPath, [CLI, 'run', '-c', first.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void second.kill('SIGKILL'));
  let stderr = '';
  second.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let listening = false;
  createInterface({ input: second.stdout! }).on('line', (line) => {
    // The old behaviour: it cleared the first one's sockets and served on a port of its own.
    if (line.includes('wakegate listening')) {
      listening = true;
      second.kill('SIGTERM');
    }
  });
  const code = await new Promise<number | null>((done) => second.once('exit', done));
  t.notOk(listening, 'the second gateway never listened');
  t.equal(code, 1);
  t.match(stderr, 'WG_ERR_RUNTIME_DIR_LOCKED');
  t.match(stderr, `another wakegate (pid ${first.pid}) is running on runtime directory ${first.runtimeDir}`);

  t.equal(statSync(socket).ino, before, 'the first gateway’s socket is the same file');
  for (let i = 0; i < 20; i++) {
    const reply = await get(first.port, 'hello.localhost', '/', { connection: 'close' });
    t.equal(reply.status, 200, `request ${i} after the second gateway's attempt`);
  }
  const lock = join(first.runtimeDir, 'lock');
  t.equal(readFileSync(lock, 'utf8'), `${first.pid}\n`, 'the lock file still holds the first gateway’s pid');
  t.equal(statSync(lock).mode & 0o777, 0o600);
  // In-process as well: the typed error carries the pid.
  const again = await startOn(t, first.runtimeDir);
  t.type(again, RuntimeDirLockedError);
  t.match(again, { code: 'WG_ERR_RUNTIME_DIR_LOCKED', path: first.runtimeDir, pid: first.pid });
});

t.test('the lock is released at shutdown: the next gateway on the directory starts', async (t) => {
  const runtimeDir = join(tempDir(t), 'run');
  const first = await startOn(t, runtimeDir);
  if (first instanceof Error) throw first;
  await first.gateway.shutdown();
  const second = await startOn(t, runtimeDir);
  if (second instanceof Error) throw second;
  t.equal((await get(second.port, 'hello.localhost')).status, 200);
});
