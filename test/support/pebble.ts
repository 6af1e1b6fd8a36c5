/**
 * A real ACME server for the ACME tests: Debian's `pebble` on loopback, resolving names through a
 * `dnsmasq` that answers 127.0.0.1 for `*.example.test` (and nothing else). Both are started by the
 * test on free ports and stopped by PID. Missing programs fail with one sentence saying what to install.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { createServer } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** PEM file of the certificate pebble's HTTPS listener presents (trust it as `tls.acme.directoryCA`). */
  readonly tlsCertFile: string;
  /** The root that signs the certificates pebble issues (regenerated at each pebble start). */
  root(): Promise<string>;
  stop(): Promise<void>;
}

/** Throws one clear sentence when pebble or dnsmasq is not installed. */
export function requireAcmeTools(): void {
  const missing = ['pebble', 'dnsmasq'].filter((c) => spawnSync('sh', ['-c', `command -v ${c} || test -x /usr/sbin/${c}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) {
    throw new Error(`the ACME tests need ${missing.join(' and ')} (Debian: apt-get install -y ${missing.join(' ')}; scripts/test-setup.ts installs them when run as root)`);
  }
}

/** A loopback TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function httpsText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ((res.statusCode ?? 0) < 300 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    }).once('error', reject);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * Starts dnsmasq and pebble. `httpPort` is where pebble sends http-01 validations (the gateway's
 * `redirectHttp` listener); `tlsPort`, where it sends tls-alpn-01 validations (the gateway's public
 * port; default a free port nobody listens on).
 */
export async function startPebble(dir: string, opts: { httpPort: number; tlsPort?: number }): Promise<Pebble> {
  requireAcmeTools();
  const tlsCertFile = join(dir, 'pebble.crt');
  const tlsKeyFile = join(dir, 'pebble.key');
  const gen = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=pebble', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', tlsKeyFile, '-out', tlsCertFile,
  ], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`openssl could not make pebble's certificate: ${gen.stderr}`);
  const [dnsPort, acmePort, mgmtPort, tlsPort] = [await freePort(), await freePort(), await freePort(), opts.tlsPort ?? (await freePort())];
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const track = (child: ChildProcess, name: string): void => {
    children.push(child);
    child.stdout?.on('data', (c: Buffer) => logs.push(`${name}: ${c.toString()}`));
    child.stderr?.on('data', (c: Buffer) => logs.push(`${name}: ${c.toString()}`));
  };
  const stop = async (): Promise<void> => {
    for (const c of children.reverse()) await stopChild(c);
  };
  try {
    track(
      spawn('dnsmasq', ['--keep-in-foreground', `--port=${dnsPort}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--address=/example.test/127.0.0.1', '--no-resolv', '--no-hosts', '--pid-file=', '--log-facility=-'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin` } }),
      'dnsmasq',
    );
    const resolver = new Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    await waitFor(async () => (await resolver.resolve4('probe.example.test')).includes('127.0.0.1'), { timeoutMs: 20_000, intervalMs: 100, what: `dnsmasq (${logs.join('').slice(-500)})` });
    const config = join(dir, 'pebble-config.json');
    await writeFile(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: tlsCertFile,
          privateKey: tlsKeyFile,
          httpPort: opts.httpPort,
          tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    track(
      spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        // No artificial validation delay, no deliberately rejected nonces: the test is about us.
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      }),
      'pebble',
    );
    const caPem = await readFile(tlsCertFile, 'utf8');
    const directory = `https://127.0.0.1:${acmePort}/dir`;
    await waitFor(async () => (await httpsText(directory, caPem)).includes('newOrder'), { timeoutMs: 20_000, intervalMs: 100, what: `pebble's directory (${logs.join('').slice(-500)})` });
    return {
      directory,
      tlsCertFile,
      root: async () => httpsText(`https://127.0.0.1:${mgmtPort}/roots/0`, caPem),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
