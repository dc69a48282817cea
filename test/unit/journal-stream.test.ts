// The systemd runtime's output streams to journald: the header of journald's stdout protocol, a stream
// that a child writes to after it, and the fall-back to the gateway log where no journald listens. That
// journald itself files the lines under the tenant's scope is test/systemd/systemd-tenant-scope.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DEFAULTS } from '../../src/defaults.js';
import { closeFd, spawn } from '../../src/native/index.js';
import { JournalOutput, journalStreamHeader, openJournalStream } from '../../src/runtime/journal-stream.js';
import { captureLogger } from '../helpers/gateway.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wg-journal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the header: identifier, unit, priority, level prefix on, no forwarding; one line each', async (t) => {
  t.equal(journalStreamHeader({ identifier: 'hello', unit: 'wakegate-hello-1.scope', priority: 6 }), 'hello\nwakegate-hello-1.scope\n6\n1\n0\n0\n0\n');
  t.throws(() => journalStreamHeader({ identifier: 'a\nb', unit: 'u.scope', priority: 6 }), /identifier must be one non-empty line/);
  t.throws(() => journalStreamHeader({ identifier: 'a', unit: '', priority: 6 }), /unit must be one non-empty line/);
  t.throws(() => journalStreamHeader({ identifier: 'a', unit: 'u.scope', priority: 8 }), /priority must be 0-7/);
  t.ok(DEFAULTS.internal.journalStderrPriority < DEFAULTS.internal.journalStdoutPriority, 'stderr is logged at a higher priority than stdout');
});

t.test('a stream is the header, then what the child writes to it, on a blocking socket', async (t) => {
  const socketPath = path.join(tempDir(t), 'stdout');
  const received = new Promise<string>((resolve) => {
    const server = createServer((conn: Socket) => {
      let data = '';
      conn.setEncoding('utf8').on('data', (chunk: string) => (data += chunk)).on('end', () => { server.close(); resolve(data); });
    });
    server.listen(socketPath);
  });
  await new Promise((resolve) => setImmediate(resolve));
  const fd = openJournalStream(socketPath, { identifier: 'hello', unit: 'wakegate-hello-1.scope', priority: 3 });
  // A child that checks its stdout is blocking (O_NONBLOCK is 04000 in fdinfo's octal flags) and writes to it.
  const child = spawn('/bin/sh', ['sh', '-c', 'echo "blocking=$(( ( 0$(sed -n "s/^flags:[[:space:]]*//p" /proc/self/fdinfo/1) & 04000 ) == 0 ))"; echo line'], {}, [], { stdio: [0, fd, 2] });
  closeFd(fd);
  t.same(await child.exited, { code: 0, signal: null });
  t.equal(await received, 'hello\nwakegate-hello-1.scope\n3\n1\n0\n0\n0\nblocking=1\nline\n');
});

t.test('without journald the output goes to the gateway log, and that is said once', async (t) => {
  const { log, lines } = captureLogger();
  const output = new JournalOutput(path.join(tempDir(t), 'no-journald'));
  t.equal(output.open('hello', 'wakegate-hello-1.scope', log), undefined);
  t.equal(output.open('hello', 'wakegate-hello-2.scope', log), undefined);
  const warned = lines.filter((l) => /journald's stdout socket/.test(l.msg));
  t.equal(warned.length, 1, 'one warning');
  t.equal(warned[0]?.level, 40, 'at warn');
  t.match(warned[0], { err: { errno: 'ENOENT', syscall: 'connect' } });
});
