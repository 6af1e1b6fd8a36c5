/** `tollgate demo`: the gateway from config/demo.yaml in front of sample upstreams, with curl commands to try. */
import { createServer, type Server } from 'node:http';
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateKeyPairSync } from 'node:crypto';
import { startGateway } from '../../control/lifecycle.js';
import { createAdminApp } from '../../admin/app.js';
import { tuneV8ForGateway } from '../../core/v8-tuning.js';
import { UserError } from '../errors.js';
import { runUntilSignalled, startError } from './start.js';

const HELP = `Usage: tollgate demo [--config PATH]

Starts the gateway from config/demo.yaml in front of three sample upstreams on loopback (two
primaries on :3001 and :3002, a backup on :3101), issues a client certificate for the sample
workload spiffe://tollgate.local/web, and prints curl commands to try. Ctrl-C stops everything.
`;

interface Sample {
  readonly name: string;
  readonly port: number;
  server: Server | undefined;
}

function sampleHandler(name: string) {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/healthz') {
        res.end('ok');
        return;
      }
      const body = JSON.stringify(
        {
          upstream: name,
          method: req.method,
          path: req.url,
          clientIdentity: req.headers['x-forwarded-client-cert'] ?? null,
          forwardedFor: req.headers['x-forwarded-for'] ?? null,
          requestId: req.headers['x-request-id'] ?? null,
          traceparent: req.headers.traceparent ?? null,
        },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${body}\n`);
    });
  });
}

function listenOn(server: Server, port: number): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new UserError(`port ${port} is in use; the demo needs 127.0.0.1:${port}`) : err),
    );
    server.listen(port, '127.0.0.1', () => resolveListen());
  });
}

async function startSample(s: Sample): Promise<void> {
  if (s.server) return;
  const server = sampleHandler(s.name);
  await listenOn(server, s.port);
  s.server = server;
}

function stopSample(s: Sample): void {
  s.server?.close();
  s.server?.closeAllConnections();
  s.server = undefined;
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const configPath = values.config ?? join(root, 'config', 'demo.yaml');
  const samples: Sample[] = [
    { name: 'primary-1', port: 3001, server: undefined },
    { name: 'primary-2', port: 3002, server: undefined },
    { name: 'backup-1', port: 3101, server: undefined },
  ];
  for (const s of samples) await startSample(s);
  const control = createServer((req, res) => {
    const primaries = samples.filter((s) => s.name.startsWith('primary'));
    if (req.method === 'POST' && req.url === '/primaries/stop') primaries.forEach(stopSample);
    else if (req.method === 'POST' && req.url === '/primaries/start') {
      void Promise.all(primaries.map(startSample));
    } else {
      res.writeHead(404).end('POST /primaries/stop or /primaries/start\n');
      return;
    }
    res.end(`ok: ${req.url}\n`);
  });
  await listenOn(control, 3000);

  let gw;
  try {
    tuneV8ForGateway();
    gw = await startGateway({ configPath, admin: createAdminApp });
  } catch (err) {
    samples.forEach(stopSample);
    control.close();
    throw startError(configPath, err);
  }

  // A client certificate for the sample workload. The demo signs a locally made key directly;
  // real workloads use `tollgate ca token` + `tollgate cert request` (the key never leaves them).
  const demoDir = resolve(gw.spec.ca.dir, '..');
  await mkdir(demoDir, { recursive: true });
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = await gw.tls.authority.issue({
    id: 'spiffe://tollgate.local/web',
    ttlMs: 24 * 3600_000,
    publicKey: publicKey.export({ type: 'spki', format: 'der' }),
  });
  const keyPath = join(demoDir, 'web.key');
  await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  await chmod(keyPath, 0o600);
  await writeFile(join(demoDir, 'web.crt'), issued.chainPem);

  const rel = (p: string): string => relative(process.cwd(), p) || '.';
  const ca = rel(join(gw.spec.ca.dir, 'root.crt'));
  const cert = rel(join(demoDir, 'web.crt'));
  const key = rel(keyPath);
  const base = `https://localhost:${gw.publicPort}`;
  const admin = `http://127.0.0.1:${gw.adminPort}`;
  const onboarded = rel(join(demoDir, 'onboarded'));
  process.stderr.write(`
tollgate demo is running — gateway ${base}, admin ${admin}
Sample upstreams: primary-1 :3001, primary-2 :3002, backup-1 :3101 (control on :3000). Ctrl-C stops.

  # 1. Routing and round-robin over two primaries (run it twice):
  curl --cacert ${ca} ${base}/whoami

  # 2. Identity: present the sample workload's certificate; the upstream sees x-forwarded-client-cert
  curl --cacert ${ca} --cert ${cert} --key ${key} ${base}/whoami

  # 3. An mTLS-protected route: 401 without a certificate, 200 with it
  curl -i --cacert ${ca} ${base}/api/orders
  curl --cacert ${ca} --cert ${cert} --key ${key} ${base}/api/orders

  # 4. Rate limit: burst of 3, then 429 with RateLimit and Retry-After headers
  for i in 1 2 3 4; do curl -s -o /dev/null -D - --cacert ${ca} ${base}/limited | grep -iE '^(HTTP|ratelimit|retry-after)'; done

  # 5. Failover: stop both primaries, watch the backup take over, then bring them back
  curl -X POST http://127.0.0.1:3000/primaries/stop
  curl --cacert ${ca} ${base}/whoami        # "upstream": "backup-1" at once (retry + outlier ejection)
  curl -s ${admin}/status                    # activeTier: "backup"
  curl -X POST http://127.0.0.1:3000/primaries/start

  # 6. Onboard a workload in two commands (its key never leaves it), then call the mTLS route:
  TOKEN=$(npx tollgate ca token --id spiffe://tollgate.local/web --dir ${rel(gw.spec.ca.dir)})
  npx tollgate cert request --gateway ${base} --token "$TOKEN" --out ${onboarded} --cacert ${ca}
  curl --cacert ${ca} --cert ${onboarded}.crt --key ${onboarded}.key ${base}/api/orders

  # Dashboard: ${admin}/   Metrics: ${admin}/metrics   Reload: kill -HUP ${process.pid}
`);
  const code = await runUntilSignalled(gw);
  samples.forEach(stopSample);
  control.close();
  return code;
}
