/** `tollgate start`: run the gateway until SIGTERM/SIGINT; SIGHUP reloads. `workers > 1` runs a node:cluster group. */
import { parseArgs } from 'node:util';
import { loadConfigFile, type LoadedConfig } from '../../config/load.js';
import { ConfigError, formatIssue } from '../../config/validate.js';
import { isClusterWorker, resolveWorkers, runClusterPrimary, runClusterWorker } from '../../control/cluster.js';
import { startGateway, type Gateway } from '../../control/lifecycle.js';
import { watchConfigFile, type ConfigWatch } from '../../control/config-watch.js';
import { createAdminApp } from '../../admin/app.js';
import { workerReport } from '../../admin/cluster-report.js';
import { createLogger, type Logger } from '../../telemetry/logger.js';
import { UserError } from '../errors.js';
import { tuneV8ForGateway } from '../../core/v8-tuning.js';

const HELP = `Usage: tollgate start [--config PATH] [--watch]

Runs the gateway (default config: config/gateway.yaml). Logs JSON lines to stdout.
SIGHUP reloads the config; SIGTERM or SIGINT drain in-flight requests and exit 0.
With \`workers\` other than 1 the process is a supervisor: it forks the workers (one port,
connections shared by node:cluster), keeps the one memory store they count limits in, and passes
SIGHUP and SIGTERM on to every worker.

Options:
  -c, --config PATH   the config file
  -w, --watch         also reload when the config file changes (an edit, an atomic replace, or a
                      Kubernetes ConfigMap's symlink swap; debounced 250 ms, a stat poll every 2 s
                      as a fallback). Same validation and log lines as SIGHUP: a bad file is
                      refused with its YAML path and the running config stays.
`;

/** Wires process signals (and `--watch`) to a running gateway; resolves when it has shut down. */
export function runUntilSignalled(gw: Gateway, watch?: ConfigWatch): Promise<number> {
  return new Promise((resolve) => {
    const onHup = (): void => {
      void gw.reload();
    };
    watch?.start((change) => {
      gw.logger.info({ msg: 'config file changed; reloading', via: change.via, fingerprint: change.fingerprint });
      void gw.reload();
    });
    const onStop = (): void => {
      watch?.close();
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

/** Expected start-up failures as one sentence (exit 1); anything else is rethrown. */
export function startError(configPath: string, err: unknown): unknown {
  if (err instanceof ConfigError) return new UserError(`invalid config ${configPath}:\n${err.issues.map(formatIssue).join('\n')}`);
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE' || e.code === 'EACCES') return new UserError(`cannot listen: ${e.message}`);
  if (e.code === 'TOLLGATE_ADMIN_AUTH') return new UserError(e.message);
  return err;
}

export async function runStart(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, watch: { type: 'boolean', short: 'w' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const configPath = values.config ?? 'config/gateway.yaml';
  tuneV8ForGateway();
  if (isClusterWorker()) {
    try {
      return await runClusterWorker({ configPath, logger: createLogger(), admin: createAdminApp, report: workerReport });
    } catch (err) {
      throw startError(configPath, err);
    }
  }
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfigFile(configPath);
  } catch (err) {
    throw startError(configPath, err);
  }
  const workers = resolveWorkers(loaded.spec.workers);
  // Watched from before the gateway reads the file, so a change during start-up is not missed.
  // Problems of fs.watch are logged once there is a logger; until then they wait here.
  const watchErrors: { dir: string; err: string }[] = [];
  let watchError = (dir: string, err: unknown): void => void watchErrors.push({ dir, err: String(err) });
  const logWatchErrorsTo = (logger: Logger): void => {
    watchError = (dir, err) => logger.warn({ msg: 'config directory not watched; the stat poll still is', dir, err: String(err) });
    for (const e of watchErrors.splice(0)) watchError(e.dir, e.err);
  };
  const watch = values.watch ? watchConfigFile(configPath, { onError: (dir, err) => watchError(dir, err) }) : undefined;
  if (workers > 1) {
    const logger = createLogger().child({ role: 'primary' });
    logWatchErrorsTo(logger);
    return runClusterPrimary({ spec: loaded.spec, workers, logger, watch });
  }
  let gw: Gateway;
  try {
    // TOLLGATE_DATA_PATH=fastify routes proxied requests through a fastify catch-all instead of
    // straight from the server's request event: kept for benchmarking the two (docs/design.md).
    const dataPath = process.env.TOLLGATE_DATA_PATH === 'fastify' ? 'fastify' : 'direct';
    gw = await startGateway({ configPath, dataPath, admin: createAdminApp });
  } catch (err) {
    watch?.close();
    throw startError(configPath, err);
  }
  logWatchErrorsTo(gw.logger);
  return runUntilSignalled(gw, watch);
}
