import type { Test } from 'tap';
import { spawnGateway } from './cli.js';

/** The command that runs the CLI under systemd-socket-activate with these sockets and LISTEN_FDNAMES. */
export function activate(listen: ReadonlyArray<string>, names: readonly string[], extra: readonly string[] = []): string[] {
  return ['systemd-socket-activate', ...listen.flatMap((l) => ['-l', l]), `--fdname=${names.join(':')}`, ...extra, '-E', 'WAKEGATE_LOG_LEVEL=debug'];
}

/**
 * Runs the CLI under `wrap` (systemd-socket-activate), resolved once the activator listens on all its
 * sockets (it says so on stderr); killed at the end of `t`.
 */
export async function activated(t: Test, file: string, wrap: string[], sockets: number) {
  const gw = spawnGateway(t, file, { wrap, stderr: 'pipe' });
  const { child } = gw;
  const exited = gw.exited.then(({ code }) => code);
  let stderr = '';
  let listening = 0;
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      listening = stderr.split('\n').filter((l) => l.startsWith('Listening on ')).length;
      if (listening === sockets) resolve();
    });
    void exited.then(() => reject(new Error(`activator exited: ${stderr}`)));
  });
  return { ...gw, exited, stderr: () => stderr };
}
