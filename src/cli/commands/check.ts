/** `tollgate check`: validate a config, print every problem with its YAML path. */
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../../config/load.js';
import { ConfigError, formatIssue } from '../../config/validate.js';

const HELP = `Usage: tollgate check [--config PATH]

Validates a config file without starting anything. Exit 0 with a one-line summary when it is valid
(warnings go to stderr), exit 1 with one line per problem when it is not.
`;

export async function runCheck(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const path = values.config ?? 'config/gateway.yaml';
  try {
    const cfg = await loadConfigFile(path);
    for (const w of cfg.warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
    const pools = Object.keys(cfg.spec.upstreams).length;
    process.stdout.write(
      `${path}: ok — ${cfg.spec.routes.length} route(s), ${pools} upstream(s), ${cfg.warnings.length} warning(s), ${cfg.hash}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      return 1;
    }
    throw err;
  }
}
