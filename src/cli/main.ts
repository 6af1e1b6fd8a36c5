/** The composition root: `tollgate <command> …`. Exit 0 ok, 1 user error, 2 usage error. */
import { UsageError, UserError } from './errors.js';
import { runStart } from './commands/start.js';
import { runCheck } from './commands/check.js';
import { runDemo } from './commands/demo.js';
import { runCa } from './commands/ca.js';
import { runCert } from './commands/cert.js';

const HELP = `tollgate — edge ingress gateway

Usage: tollgate <command> [options]

Commands:
  start [--config PATH] [--watch]   run the gateway (default config/gateway.yaml; --watch: reload on file change)
  check [--config PATH] [--diff]   validate a config file (--diff: against the running gateway) and exit
  demo                    run the gateway in front of sample upstreams, print curl commands
  ca <init|issue|token|revoke|list> …   manage the built-in certificate authority
  cert <request|renew> …  obtain or renew a workload certificate from a gateway

Run 'tollgate <command> --help' for a command's options.
`;

type Command = (argv: string[]) => Promise<number>;
const COMMANDS: Record<string, Command> = { start: runStart, check: runCheck, demo: runDemo, ca: runCa, cert: runCert };

/** Runs the CLI; returns the exit code. Expected errors print one sentence, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write('0.1.0\n');
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`tollgate: unknown command "${name}" (see 'tollgate --help')\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** Maps an error to stderr and an exit code. */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`tollgate: ${err.message}\n`);
    return 2;
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`tollgate: ${(err as Error).message}\n`);
    return 2;
  }
  if (err instanceof UserError) {
    process.stderr.write(`tollgate: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`tollgate: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}
