/** `tollgate start`: run the gateway until SIGTERM/SIGINT; SIGHUP reloads. */
import { parseArgs } from 'node:util';
import { ConfigError, formatIssue } from '../../config/validate.js';
import { startGateway, type Gateway } from '../../control/lifecycle.js';
import { UserError } from '../errors.js';

const HELP = `Usage: tollgate start [--config PATH]

Runs the gateway (default config: config/gateway.yaml). Logs JSON lines to stdout.
SIGHUP reloads the config; SIGTERM or SIGINT drain in-flight requests and exit 0.
`;

/** Wires process signals to a running gateway; resolves when it has shut down. */
export function runUntilSignalled(gw: Gateway): Promise<number> {
  return new Promise((resolve) => {
    const onHup = (): void => {
      void gw.reload();
    };
    const onStop = (): void => {
      process.removeListener('SIGHUP', onHup);
      process.removeListener('SIGTERM', onStop);
      process.removeListener('SIGINT', onStop);
      gw.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          gw.logger.error({ msg: 'shutdown failed', err: String(err) });
          resolve(1);
        },
      );
    };
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}

export async function runStart(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const configPath = values.config ?? 'config/gateway.yaml';
  let gw: Gateway;
  try {
    gw = await startGateway({ configPath });
  } catch (err) {
    if (err instanceof ConfigError) throw new UserError(`invalid config ${configPath}:\n${err.issues.map(formatIssue).join('\n')}`);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') throw new UserError(`cannot listen: ${e.message}`);
    throw err;
  }
  return runUntilSignalled(gw);
}
