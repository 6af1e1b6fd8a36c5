/**
 * WebSocket pass-through (HTTP/1.1 Upgrade): one undici upgrade dispatch; on 101 the two sockets are
 * piped to each other until either side closes.
 */
import type { Dispatcher } from 'undici';
import type { Duplex } from 'node:stream';
import type { AttemptResult } from './forward.js';

export interface UpgradeOptions {
  readonly origin: string;
  readonly path: string;
  /** Flat [name, value, …] list, hop-by-hop headers already removed (undici adds Upgrade/Connection). */
  readonly headers: string[];
  /** Bytes the client sent after its request head. */
  readonly head: Buffer;
  readonly timeoutMs: number;
  readonly extraResponseHeaders: Readonly<Record<string, string>>;
}

const CRLF = '\r\n';

/** Sends one upgrade attempt; `done` is called once, with `headersSent` true once the 101 went out. */
export function sendUpgrade(dispatcher: Dispatcher, client: Duplex, opts: UpgradeOptions, done: (r: AttemptResult) => void): void {
  let finished = false;
  const finish = (r: AttemptResult): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(r);
  };
  let abort: ((err?: Error) => void) | undefined;
  const timer = setTimeout(() => {
    const err = Object.assign(new Error('upstream did not answer the upgrade in time'), { code: 'TOLLGATE_UPSTREAM_TIMEOUT' });
    abort?.(err);
    finish({ error: err, headersSent: false, status: 0, bytes: 0 });
  }, opts.timeoutMs);
  const onClientClose = (): void => {
    abort?.(new Error('client closed the connection'));
    finish({ error: new Error('client closed the connection'), headersSent: false, status: 499, bytes: 0 });
  };
  client.once('close', onClientClose);

  const handler: Dispatcher.DispatchHandler = {
    onConnect(a: (err?: Error) => void) {
      abort = a;
    },
    onHeaders() {
      // A non-101 answer to an upgrade: undici reports it as an error below.
      return true;
    },
    onData() {
      return true;
    },
    onComplete() {
      finish({ error: new Error('upstream refused the upgrade'), headersSent: false, status: 502, bytes: 0 });
    },
    onError(err: Error) {
      client.removeListener('close', onClientClose);
      finish({ error: err, headersSent: false, status: 0, bytes: 0 });
    },
    onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Duplex) {
      client.removeListener('close', onClientClose);
      if (finished || client.destroyed) {
        upstream.destroy();
        return;
      }
      let head = `HTTP/1.1 ${statusCode} Switching Protocols${CRLF}`;
      const raw = rawHeaders ?? [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = String(raw[i]);
        if (name.toLowerCase() === 'x-request-id') continue;
        head += `${name}: ${String(raw[i + 1])}${CRLF}`;
      }
      for (const name in opts.extraResponseHeaders) head += `${name}: ${opts.extraResponseHeaders[name]}${CRLF}`;
      client.write(head + CRLF);
      if (opts.head.length > 0) upstream.write(opts.head);
      const closeBoth = (): void => {
        client.destroy();
        upstream.destroy();
      };
      upstream.on('error', closeBoth);
      client.on('error', closeBoth);
      upstream.on('close', closeBoth);
      client.on('close', closeBoth);
      upstream.pipe(client);
      client.pipe(upstream);
      finish({ error: null, headersSent: true, status: statusCode, bytes: 0 });
    },
  };
  dispatcher.dispatch(
    { origin: opts.origin, method: 'GET', path: opts.path, headers: opts.headers, upgrade: 'websocket', headersTimeout: 0, bodyTimeout: 0 },
    handler,
  );
}
