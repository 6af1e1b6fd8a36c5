/** An in-process gateway on ephemeral loopback ports, with its own temp dir, CA and a log sink. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/control/lifecycle.js';
import { createAdminApp } from '../../src/admin/app.js';
import { createLogger } from '../../src/telemetry/logger.js';

export interface LogSink {
  readonly lines: Record<string, unknown>[];
  /** Lines whose fields include all of `fields`. */
  find(fields: Record<string, unknown>): Record<string, unknown>[];
}

export function createLogSink(): LogSink & { write(msg: string): void } {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    write(msg: string) {
      for (const l of msg.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
    },
    find(fields) {
      return lines.filter((l) => Object.entries(fields).every(([k, v]) => l[k] === v));
    },
  };
}

export interface TestGateway {
  readonly gw: Gateway;
  readonly dir: string;
  readonly configPath: string;
  readonly url: string;
  readonly adminUrl: string;
  readonly rootPem: string;
  readonly logs: LogSink;
  /** Rewrites the config file (for reload tests). */
  writeConfig(config: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** Fills in loopback listeners and a CA dir inside the temp dir. */
export function withTestDefaults(config: Record<string, unknown>): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    ca: { dir: './ca' },
    ...config,
  };
}

export async function startTestGateway(config: Record<string, unknown>, opts: Partial<GatewayOptions> & { dir?: string } = {}): Promise<TestGateway> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'tollgate-test-')));
  const configPath = join(dir, 'gateway.yaml');
  const writeConfig = async (c: Record<string, unknown>): Promise<void> => {
    await writeFile(configPath, stringify(withTestDefaults(c)));
  };
  await writeConfig(config);
  const sink = createLogSink();
  const logger = createLogger({ level: 'info', destination: sink });
  const gw = await startGateway({ configPath, logger, ports: { public: 0, admin: 0, redirect: 0 }, admin: createAdminApp, ...opts });
  const rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');
  return {
    gw,
    dir,
    configPath,
    url: `https://127.0.0.1:${gw.publicPort}`,
    adminUrl: `http://127.0.0.1:${gw.adminPort}`,
    rootPem,
    logs: sink,
    writeConfig,
    stop: async () => {
      await gw.shutdown();
      if (opts.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
