/**
 * WebSocket pass-through (HTTP/1.1 Upgrade): one undici upgrade dispatch; on 101 the two sockets are
 * piped to each other until either side closes.
 */
import type { Dispatcher } from 'undici';
import type { Duplex } from 'node:stream';
import type { AttemptRequest, AttemptSink } from './forward.js';
import { ClientGoneError, UpstreamTimeoutError } from './classify.js';

const CRLF = '\r\n';

/**
 * Sends one upgrade attempt (`head`: bytes the client sent after its request head; the headers carry
 * no hop-by-hop fields, undici adds Upgrade/Connection). `sink.attemptDone` is called once, with
 * `headersSent` true once the 101 went out.
 */
export function sendUpgrade(dispatcher: Dispatcher, client: Duplex, head: Buffer, opts: AttemptRequest, sink: AttemptSink): void {
  let finished = false;
  const finish = (r: { error: Error | null; headersSent: boolean; status: number; bytes: number }): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    sink.attemptDone(r.error, r.headersSent, r.status, r.bytes);
  };
  let abort: ((err?: Error) => void) | undefined;
  const timer = setTimeout(() => {
    const err = new UpstreamTimeoutError('upstream did not answer the upgrade in time');
    abort?.(err);
    finish({ error: err, headersSent: false, status: 0, bytes: 0 });
  }, opts.timeoutMs);
  const onClientClose = (): void => {
    const err = new ClientGoneError();
    abort?.(err);
    finish({ error: err, headersSent: false, status: 499, bytes: 0 });
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
      let response = `HTTP/1.1 ${statusCode} Switching Protocols${CRLF}`;
      const raw = rawHeaders ?? [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = String(raw[i]);
        if (name.toLowerCase() === 'x-request-id') continue;
        response += `${name}: ${String(raw[i + 1])}${CRLF}`;
      }
      response += `x-request-id: ${opts.requestId}${CRLF}`;
      const extra = opts.extraResponseHeaders;
      if (extra !== null) for (const name in extra) response += `${name}: ${extra[name]}${CRLF}`;
      client.write(response + CRLF);
      if (head.length > 0) upstream.write(head);
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
    { origin: opts.origin, method: 'GET', path: opts.upstreamPath, headers: opts.upstreamHeaders, upgrade: 'websocket', headersTimeout: 0, bodyTimeout: 0 },
    handler,
  );
}
