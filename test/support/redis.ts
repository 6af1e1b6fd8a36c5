/**
 * A throwaway redis-server on a loopback port, for integration tests. Started without
 * persistence; stopped by its PID (never by name), and killed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';

/** A running test Redis. */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL now, without waiting: the "Redis died" case. */
  kill(): void;
  /** Start again on the same port (after stop or kill) and wait until it answers. */
  restart(): Promise<void>;
  /** SIGSTOP: the socket stays open but nothing answers (a hung Redis). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
}

const READY_TIMEOUT_MS = 5000;
const live = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of live) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
});

/** A port that was free a moment ago: bind 127.0.0.1:0, read it, close. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket; true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

async function waitForPing(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr()}`);
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server on port ${port} not ready after ${READY_TIMEOUT_MS}ms: ${stderr()}`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Spawns `redis-server --port <free port> --save '' --appendonly no` and waits for PING. With
 * `appendOnlyDir`, every write is appended and fsynced there (`--appendfsync always`), so a kill and
 * restart keeps the data, as a production Redis holding the CA state must. `port` binds that port
 * (a Redis appearing where a gateway already expects it).
 */
export async function startRedis(opts: { appendOnlyDir?: string; port?: number } = {}): Promise<TestRedis> {
  const port = opts.port ?? (await freePort());
  const persistence = opts.appendOnlyDir === undefined
    ? ['--appendonly', 'no', '--dir', tmpdir()]
    : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', opts.appendOnlyDir];
  let child: ChildProcess | undefined;

  const spawnOne = async (): Promise<void> => {
    let err = '';
    const c = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    live.add(c);
    c.once('exit', () => live.delete(c));
    child = c;
    await waitForPing(port, c, () => err);
  };

  const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.pid === undefined) return;
    if (c.exitCode === null && c.signalCode === null) process.kill(c.pid, signal);
    await exited(c);
  };

  const signal = (sig: NodeJS.Signals): void => {
    const c = child;
    if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, sig);
  };

  await spawnOne();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => stopChild('SIGTERM'),
    kill: () => signal('SIGKILL'),
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    restart: async () => {
      await stopChild('SIGKILL');
      await spawnOne();
    },
  };
}

/** Polls `pred` until it is true; throws after `timeoutMs`. */
export async function waitFor(pred: () => boolean | Promise<boolean>, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}
