/** `tollgate check`: validate a config, print every problem and warning with its YAML path and position. */
import { parseArgs } from 'node:util';
import { analyzeConfigFile } from '../../config/load.js';
import { ConfigError, formatIssue, type ConfigIssue } from '../../config/validate.js';
import { diffSpecs, formatChange, type TargetHealth } from '../../config/diff.js';
import type { GatewaySpec } from '../../spec/schema.js';
import { UsageError, UserError } from '../errors.js';

const HELP = `Usage: tollgate check [--config PATH] [--diff [--admin URL] [--json] [--allow-risky]]

Validates a config file without starting anything. Prints every problem and warning at once to stderr,
one line each (FILE:LINE:COL YAML.PATH: message), in file order. Exit 0 with a one-line summary on stdout
when it is valid (warnings allowed), exit 1 when there is any problem, 2 on a usage error.

--diff compares the file with the running gateway (admin GET /config and /status; --admin defaults to the
file's admin.host:admin.port) and prints what a reload would change, one line each (--json: one JSON document).
Exit 3 when a change is risky (a route left with no healthy target, an allow-list that widens to a wildcard,
a route losing its authentication) unless --allow-risky.
`;

async function fetchJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new UserError(`cannot reach the admin API at ${url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  if (!res.ok) throw new UserError(`${url} answered ${res.status}`);
  return res.json();
}

function healthOf(status: unknown): TargetHealth {
  const out = new Map<string, boolean>();
  const ups = (status as { upstreams?: Record<string, { targets?: { url?: string; available?: boolean }[] }> }).upstreams ?? {};
  for (const pool of Object.values(ups)) {
    for (const t of pool.targets ?? []) if (typeof t.url === 'string') out.set(new URL(t.url).origin, t.available === true);
  }
  return out;
}

async function runDiff(spec: GatewaySpec, opts: { admin?: string; json: boolean; allowRisky: boolean }): Promise<number> {
  const host = spec.admin.host === '0.0.0.0' || spec.admin.host === '::' ? '127.0.0.1' : spec.admin.host;
  const base = (opts.admin ?? `http://${host.includes(':') ? `[${host}]` : host}:${spec.admin.port}`).replace(/\/+$/, '');
  const running = (await fetchJson(`${base}/config`)) as { spec?: GatewaySpec; configHash?: string };
  if (running.spec === undefined) throw new UserError(`${base}/config gave no spec`);
  const health = healthOf(await fetchJson(`${base}/status`));
  const changes = diffSpecs(running.spec, spec, health);
  const risky = changes.filter((c) => c.risky !== undefined);
  if (opts.json) process.stdout.write(`${JSON.stringify({ running: running.configHash, changes, risky: risky.length > 0 })}\n`);
  else {
    for (const c of changes) process.stdout.write(`${formatChange(c)}\n`);
    process.stdout.write(`${changes.length} change(s), ${risky.length} risky\n`);
  }
  return risky.length > 0 && !opts.allowRisky ? 3 : 0;
}

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0);
}

export async function runCheck(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      diff: { type: 'boolean' },
      admin: { type: 'string' },
      json: { type: 'boolean' },
      'allow-risky': { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.diff && (values.admin !== undefined || values.json || values['allow-risky'])) {
    throw new UsageError('--admin, --json and --allow-risky go with --diff');
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
    if (values.diff) return await runDiff(a.spec, { admin: values.admin, json: values.json === true, allowRisky: values['allow-risky'] === true });
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
