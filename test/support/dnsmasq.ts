/**
 * A real `dnsmasq` for the DNS target tests, on a free loopback port, answering only from files the test
 * writes: A/AAAA records from a hosts directory (`--hostsdir`, re-read by dnsmasq when a file changes,
 * and on SIGHUP) and SRV records from the conf file (dnsmasq reads those only at start, so `setSrv`
 * restarts it on the same port). Started and stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { freePort } from './pebble.js';
import { waitFor } from './wait.js';

export interface SrvEntry {
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

export interface Dnsmasq {
  /** `127.0.0.1:PORT`, for `dns.servers`. */
  readonly server: string;
  /** Replaces every A/AAAA record: name → addresses. Resolves once dnsmasq answers with them. */
  setHosts(hosts: Record<string, readonly string[]>): Promise<void>;
  /** Replaces every SRV record (restarts dnsmasq on its port). Resolves once it answers with them. */
  setSrv(srv: Record<string, readonly SrvEntry[]>): Promise<void>;
  /** Stops dnsmasq (its port then answers nothing: resolutions time out or are refused). */
  stop(): Promise<void>;
  /** Starts it again with the last records. */
  start(): Promise<void>;
}

function dnsmasqPath(): string {
  for (const p of ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq']) if (spawnSync('test', ['-x', p]).status === 0) return p;
  if (spawnSync('sh', ['-c', 'command -v dnsmasq'], { stdio: 'ignore' }).status === 0) return 'dnsmasq';
  throw new Error('the DNS target tests need dnsmasq (Debian: apt-get install -y dnsmasq; scripts/test-setup.ts installs it when run as root)');
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Starts dnsmasq with no records; `ttl` is the TTL of its answers (seconds). */
export async function startDnsmasq(dir: string, opts: { ttl?: number } = {}): Promise<Dnsmasq> {
  const bin = dnsmasqPath();
  const port = await freePort();
  const hostsDir = join(dir, 'dns-hosts');
  await mkdir(hostsDir, { recursive: true });
  const conf = join(dir, 'dnsmasq.conf');
  let srv: Record<string, readonly SrvEntry[]> = {};
  let child: ChildProcess | undefined;
  let logs = '';
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);

  const writeConf = async (): Promise<void> => {
    const lines = [`local-ttl=${opts.ttl ?? 0}`];
    for (const [name, entries] of Object.entries(srv)) {
      for (const e of entries) lines.push(`srv-host=${name},${e.target},${e.port},${e.priority ?? 0},${e.weight ?? 0}`);
    }
    await writeFile(conf, `${lines.join('\n')}\n`);
  };
  // As root, dnsmasq drops to "nobody", who cannot read the test's private temp dir: it stays root.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  const start = async (): Promise<void> => {
    await writeConf();
    logs = '';
    const c = spawn(
      bin,
      ['--keep-in-foreground', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', `--hostsdir=${hostsDir}`, `--conf-file=${conf}`, '--pid-file=', '--log-facility=-', ...asRoot],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    c.stdout?.on('data', (b: Buffer) => (logs += b.toString()));
    c.stderr?.on('data', (b: Buffer) => (logs += b.toString()));
    child = c;
    // Answers (even "no such name") once it listens.
    await waitFor(
      async () => {
        if (c.exitCode !== null) throw new Error(`dnsmasq exited: ${logs.slice(-500)}`);
        try {
          await resolver.resolve4('probe.invalid');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ECONNREFUSED' || code === 'ETIMEOUT') return false;
        }
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `dnsmasq on port ${port} (${logs.slice(-300)})` },
    );
  };
  const stop = async (): Promise<void> => {
    if (child !== undefined) await stopChild(child);
    child = undefined;
  };

  await start();
  return {
    server: `127.0.0.1:${port}`,
    setHosts: async (hosts) => {
      const text = Object.entries(hosts)
        .flatMap(([name, addrs]) => addrs.map((a) => `${a} ${name}`))
        .join('\n');
      // Written beside and renamed in, so dnsmasq never reads half a file.
      const tmp = join(dir, 'hosts.tmp');
      await writeFile(tmp, `${text}\n`);
      await rename(tmp, join(hostsDir, 'hosts'));
      child?.kill('SIGHUP'); // also clears its cache; inotify alone may lag under load
      await waitFor(
        async () => {
          for (const [name, addrs] of Object.entries(hosts)) {
            const want = addrs.filter((a) => !a.includes(':')).sort();
            let got: string[] = [];
            try {
              got = (await resolver.resolve4(name)).sort();
            } catch {
              got = [];
            }
            if (want.join() !== got.join()) return false;
          }
          return true;
        },
        { timeoutMs: 10_000, intervalMs: 50, what: `dnsmasq to answer ${JSON.stringify(hosts)}` },
      );
    },
    setSrv: async (next) => {
      srv = next;
      await stop();
      await start();
      await waitFor(
        async () => {
          for (const [name, entries] of Object.entries(next)) {
            const got = await resolver.resolveSrv(name);
            if (got.length !== entries.length) return false;
          }
          return true;
        },
        { timeoutMs: 10_000, intervalMs: 50, what: `dnsmasq to answer SRV ${JSON.stringify(next)}` },
      );
    },
    stop,
    start,
  };
}
