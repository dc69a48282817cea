#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { runStatus } from './admin/status-command.js';
import { loadConfig } from './config/load.js';
import { ConfigError, SystemdUnavailableError } from './errors.js';
import { Gateway } from './gateway.js';
import { runHaproxyConfig } from './haproxy-config-command.js';
import { createLogger, type Logger } from './log.js';
import { RunSignals } from './run-signals.js';
import { connectSystemd, systemdApps } from './systemd/systemd-probe.js';
import { systemdService } from './systemd/systemd-service.js';

const HELP = `wakegate: a socket-activated, on-demand container gateway

Usage:
  wakegate run   -c FILE   serve the apps in FILE (YAML or JSON)
  wakegate check -c FILE   validate FILE; exit 1 listing every error
  wakegate status [--admin ADDR | -c FILE] [--token T] [--json]
                           the apps of a running gateway: state, pid, memory, requests,
                           last cold start, idle stop; ADDR is host:port or unix:/path
                           (default 127.0.0.1:9090; token also from WAKEGATE_ADMIN_TOKEN)
  wakegate haproxy-config -c FILE --server HOST[:PORT] ... [--bind ADDR] [--balance-factor N]
                           print the haproxy.cfg of an HAProxy tier over wakegates that all run
                           FILE, one --server per host (PORT defaults to listen.http's)
  wakegate --help | --version

Signals (run): SIGHUP reloads FILE; SIGTERM or SIGINT shut down gracefully.
Environment: WAKEGATE_LOG_LEVEL overrides log.level. Under systemd: LISTEN_FDS, LISTEN_PID and
LISTEN_FDNAMES (passed sockets), NOTIFY_SOCKET (Type=notify, fd store), WATCHDOG_USEC, WATCHDOG_PID.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      admin: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean' },
      server: { type: 'string', multiple: true },
      bind: { type: 'string' },
      'balance-factor': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  const command = positionals[0];
  if (values.help || command === 'help') return void process.stdout.write(HELP), 0;
  if (values.version) return void process.stdout.write(`${await version()}\n`), 0;
  if (command === 'status') {
    try {
      await runStatus({ admin: values.admin, config: values.config, token: values.token, json: values.json ?? false }, process.stdout);
      return 0;
    } catch (err) {
      process.stderr.write(`wakegate status: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  if (command === 'haproxy-config') {
    const args = { config: values.config, servers: values.server ?? [], bind: values.bind, balanceFactor: values['balance-factor'] };
    return runHaproxyConfig(args, process.stdout, process.stderr);
  }
  if (command !== 'run' && command !== 'check') {
    process.stderr.write(`${command ? `unknown command: ${command}\n` : ''}${HELP}`);
    return 2;
  }
  if (!values.config) {
    process.stderr.write(`wakegate ${command}: -c FILE is required\n`);
    return 2;
  }
  if (command === 'check') return check(values.config);
  return run(values.config);
}

async function check(file: string): Promise<number> {
  try {
    const config = await loadConfig(file);
    const onSystemd = systemdApps(config.apps);
    // A config that cannot run here is not ok: the bus is asked now rather than at the first start.
    if (onSystemd.length > 0) (await connectSystemd(onSystemd, createLogger('error'))).close();
    process.stdout.write(`${config.file}: ok (${Object.keys(config.apps).length} apps)\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof SystemdUnavailableError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

async function run(file: string): Promise<number> {
  // First of all, so that no signal meets its default action (SIGHUP's ends the process) during start-up.
  const signals = new RunSignals();
  let config;
  try {
    config = await loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  // With workers, several processes write to this stdout: one write per line keeps every line whole (see worker-main.ts).
  const log = createLogger(config.log.level, config.workers > 1 ? pino.destination({ sync: true }) : undefined);
  // Before anything is bound: the passed sockets are taken (and the variables unset) as sd_listen_fds does.
  const service = systemdService(process.env, log);
  const gateway = await Gateway.start(config, { log, service });
  signals.attach({ log, reload: () => reload(gateway, file, log), shutdown: () => gateway.shutdown() });
  return signals.done;
}

async function reload(gateway: Gateway, file: string, log: Logger): Promise<void> {
  gateway.reloading();
  try {
    const next = await loadConfig(file);
    // Checked again here: the shutdown may have begun while the file was being read.
    if (gateway.shuttingDown) return void log.warn('reload refused: the gateway is shutting down');
    log.level = next.log.level;
    await gateway.reload(next);
  } catch (err) {
    // The old config keeps serving: a bad edit must not take tenants down.
    if (err instanceof ConfigError) log.error({ file, issues: err.issues }, 'failed to reload config, keeping the old one');
    else log.error({ err, file }, 'failed to reload config, keeping the old one');
  } finally {
    gateway.reloaded();
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Flush pino's async destination before the process ends on its own.
    setImmediate(() => process.exit(code)).unref();
  },
  (err: unknown) => {
    // Errors with a code (ours, and Node's system errors) explain themselves; anything else is a bug.
    const coded = err instanceof Error && 'code' in err;
    const text = err instanceof Error ? (coded ? `${err.message} (${String((err as { code: unknown }).code)})` : err.stack) : String(err);
    process.stderr.write(`wakegate: failed to run: ${text}\n`);
    process.exit(1);
  },
);
