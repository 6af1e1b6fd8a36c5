/** `tollgate check`: validate a config, print every problem and warning with its YAML path and position. */
import { parseArgs } from 'node:util';
import { analyzeConfigFile } from '../../config/load.js';
import { ConfigError, formatIssue, type ConfigIssue } from '../../config/validate.js';

const HELP = `Usage: tollgate check [--config PATH]

Validates a config file without starting anything. Prints every problem and warning at once to stderr,
one line each (FILE:LINE:COL YAML.PATH: message), in file order. Exit 0 with a one-line summary on stdout
when it is valid (warnings allowed), exit 1 when there is any problem, 2 on a usage error.
`;

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0);
}

export async function runCheck(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const path = values.config ?? 'config/gateway.yaml';
  try {
    const a = await analyzeConfigFile(path);
    const lines = [
      ...a.problems.map((issue) => ({ issue, text: formatIssue(issue) })),
      ...a.warnings.map((issue) => ({ issue, text: `warning: ${formatIssue(issue)}` })),
    ].sort((x, y) => byPosition(x.issue, y.issue));
    for (const l of lines) process.stderr.write(`${l.text}\n`);
    if (a.spec === undefined) return 1;
    const pools = Object.keys(a.spec.upstreams).length;
    process.stdout.write(`${path}: ok — ${a.spec.routes.length} route(s), ${pools} upstream(s), ${a.warnings.length} warning(s), ${a.hash}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      return 1;
    }
    throw err;
  }
}
