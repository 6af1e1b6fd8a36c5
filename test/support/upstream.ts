/**
 * Scripted upstream servers on loopback port 0 (undici's TestServer idea): each request is answered
 * by the script as ok | status(n) | delay(ms) | hangup | close | truncate.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Action =
  | { kind: 'ok'; body?: string; headers?: Record<string, string> }
  | { kind: 'status'; status: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'hold'; until: Promise<void> }
  | { kind: 'hangup' }
  | { kind: 'truncate' }
  | { kind: 'echo' }
  | { kind: 'stream'; bytes: number };

export const ok = (body?: string, headers?: Record<string, string>): Action => ({ kind: 'ok', body, headers });
export const status = (n: number): Action => ({ kind: 'status', status: n });
export const delay = (ms: number): Action => ({ kind: 'delay', ms });
/** Answers 200 only once `until` settles (a request kept in flight for as long as the test needs). */
export const hold = (until: Promise<void>): Action => ({ kind: 'hold', until });
export const hangup: Action = { kind: 'hangup' };
export const truncate: Action = { kind: 'truncate' };
export const echo: Action = { kind: 'echo' };
/** Answers with `bytes` bytes, produced chunk by chunk with backpressure. */
export const streamBytes = (bytes: number): Action => ({ kind: 'stream', bytes });

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
}

export interface TestUpstream {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  /** TCP connections accepted so far. */
  readonly connections: () => number;
  /** TCP connections open now. */
  readonly openSockets: () => number;
  script: (req: IncomingMessage, n: number) => Action;
  /** Stops listening and destroys open connections (a dead target from now on). */
  close(): Promise<void>;
}

/**
 * Starts an upstream named `name` (its name is the default body and the `x-upstream` header).
 * `opts.port` binds that port (to restart a closed upstream where the gateway expects it); `opts.host`
 * another loopback address (127.0.0.2, … : a second "host" for the DNS tests).
 */
export async function startUpstream(
  name: string,
  script: (req: IncomingMessage, n: number) => Action = () => ok(),
  opts: { port?: number; host?: string } = {},
): Promise<TestUpstream> {
  const sockets = new Set<Socket>();
  const seen: SeenRequest[] = [];
  let connections = 0;
  const up: TestUpstream = {
    name,
    url: '',
    port: 0,
    seen,
    connections: () => connections,
    openSockets: () => sockets.size,
    script,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const n = seen.length;
    const record: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 };
    seen.push(record);
    const action = up.script(req, n);
    if (req.url === '/healthz' && action.kind === 'ok') {
      res.end('ok');
      return;
    }
    if (action.kind === 'hangup') {
      req.socket.destroy();
      return;
    }
    if (action.kind === 'echo') {
      req.on('data', (c: Buffer) => {
        record.bodyBytes += c.length;
        if (!res.write(c)) {
          req.pause();
          res.once('drain', () => req.resume());
        }
      });
      req.on('end', () => res.end());
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upstream': name });
      return;
    }
    req.on('data', (c: Buffer) => {
      record.bodyBytes += c.length;
    });
    req.on('end', () => {
      switch (action.kind) {
        case 'ok': {
          const body = action.body ?? name;
          res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name, ...action.headers });
          res.end(body);
          return;
        }
        case 'status':
          res.writeHead(action.status, { 'content-type': 'text/plain', 'x-upstream': name });
          res.end(`${name} ${action.status}`);
          return;
        case 'delay': {
          const t = setTimeout(() => {
            if (!res.destroyed) {
              res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
              res.end(name);
            }
          }, action.ms);
          res.on('close', () => clearTimeout(t));
          return;
        }
        case 'hold':
          void action.until.then(() => {
            if (!res.destroyed) {
              res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
              res.end(name);
            }
          });
          return;
        case 'stream': {
          const chunk = Buffer.alloc(256 * 1024, 0x62);
          let left = action.bytes;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(action.bytes), 'x-upstream': name });
          const pump = (): void => {
            while (left > 0) {
              const n = Math.min(left, chunk.length);
              left -= n;
              if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
                res.once('drain', pump);
                return;
              }
            }
            res.end();
          };
          pump();
          return;
        }
        case 'truncate':
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000', 'x-upstream': name });
          res.write('x'.repeat(100));
          setImmediate(() => req.socket.destroy());
          return;
      }
    });
    req.resume();
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  Object.assign(up, { url: `http://${opts.host ?? '127.0.0.1'}:${port}`, port });
  return up;
}

/** A loopback port that was bound and closed: connecting to it is refused. */
export async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
