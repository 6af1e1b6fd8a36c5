/**
 * The proxying engine: one undici dispatch per attempt, its response written straight into the
 * client's response (no intermediate stream, headers written once). See STYLE §6 for why not reply-from.
 */
import type { Dispatcher } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { constants as h2constants } from 'node:http2';
import { HOP_BY_HOP, connectionTokens } from '../http/hop-headers.js';
import { ClientGoneError, RetryableStatusError, UpstreamTimeoutError } from './classify.js';
import { applyResponsePolicy, type ResponsePolicy } from '../http/response-policy.js';
import { createCompressor, flushCompressor, type Compressor, type Encoding } from '../http/compress.js';

export { RetryableStatusError };

export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

/**
 * What one attempt sends. The caller's per-request object implements it (and AttemptSink), so an
 * attempt allocates no options object or callbacks of its own.
 */
export interface AttemptRequest {
  readonly origin: string;
  readonly method: string;
  readonly upstreamPath: string;
  /** Flat [name, value, …] list, already sanitised. */
  readonly upstreamHeaders: string[];
  readonly body: NodeJS.ReadableStream | AsyncIterable<Uint8Array> | null;
  /** Time allowed until response headers. */
  readonly timeoutMs: number;
  /** Upstream inactivity allowed while the body streams. */
  readonly bodyTimeoutMs: number;
  /** Set on every response as x-request-id. */
  readonly requestId: string;
  /** Other headers the gateway adds to the response (RateLimit fields), or null. */
  readonly extraResponseHeaders: Readonly<Record<string, string>> | null;
  /** The route's response header policy, CORS and compression (issue 16), or null: most routes have none. */
  readonly responsePolicy: ResponsePolicy | null;
  /** A request header by lower-case name (read by the response policy only). */
  header(name: string): string | undefined;
}

/** Where an attempt reports. */
export interface AttemptSink {
  /**
   * Called with the upstream status before anything is written. Return false to discard this
   * response (the attempt then ends with a RetryableStatusError) so the caller may retry.
   */
  acceptStatus(status: number): boolean;
  /** Called exactly once per attempt; `headersSent` tells whether the client already saw a response start. */
  attemptDone(error: Error | null, headersSent: boolean, status: number, bytes: number): void;
}

const isH2 = (res: ClientResponse): res is Http2ServerResponse => 'stream' in res;

/**
 * Whether the client went away: the one definition for both protocols. HTTP/2: the stream is destroyed
 * or closed (Http2ServerResponse has no `destroyed`); HTTP/1.1: the response or its socket is destroyed.
 * A response that ended normally is not "gone".
 */
export function clientGone(res: ClientResponse): boolean {
  if (isH2(res)) {
    const stream = res.stream;
    return !res.writableEnded && (stream.destroyed || stream.closed);
  }
  return !res.writableEnded && (res.destroyed || res.socket?.destroyed === true);
}

/** Response headers that must not be forwarded: hop-by-hop, and x-request-id (we set our own). */
const SKIP_RESPONSE_HEADERS: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'x-request-id']);

/** The header names an upstream response's Connection lists (RFC 9110 §7.6.1), or undefined. */
function connectionNamed(rawHeaders: Buffer[] | string[]): ReadonlySet<string> | undefined {
  let values: string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 10 || name.toString('latin1').toLowerCase() !== 'connection') continue;
    (values ??= []).push(rawHeaders[i + 1]!.toString('latin1'));
  }
  return values === undefined ? undefined : connectionTokens(values);
}

/**
 * The per-attempt undici handler (legacy handler API: it is the one undici's clients call natively,
 * so no wrapper is allocated). One instance per attempt; all state on the instance, no closures.
 */
class AttemptHandler implements Dispatcher.DispatchHandler {
  #res: ClientResponse;
  #req: AttemptRequest;
  #sink: AttemptSink;
  #abort: ((err?: Error) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #finished = false;
  #headersSent = false;
  #status = 0;
  #bytes = 0;
  #resume: (() => void) | null = null;
  // Listeners are made only when needed: most attempts never see backpressure.
  #onDrain: (() => void) | null = null;
  #onClientClose: () => void;
  /** The compressing stream between upstream body and client (issue 16), when the response is compressed. */
  #z: Compressor | null = null;
  #zEncoding: Encoding = 'gzip';
  /** Chunked upstream body: flush after every chunk so a streamed response keeps streaming. */
  #zFlush = false;
  #upstreamDone = false;

  constructor(res: ClientResponse, req: AttemptRequest, sink: AttemptSink) {
    this.#res = res;
    this.#req = req;
    this.#sink = sink;
    this.#timer = setTimeout(onAttemptTimeout, req.timeoutMs, this);
    // Abort the upstream whenever the client side closes before we finished (STYLE §6: h2 compat
    // never emits 'drain' after a reset, which would otherwise hold the upstream connection forever).
    this.#onClientClose = () => {
      if (!this.#finished) this.#fail(new ClientGoneError(), true);
    };
    res.on('close', this.#onClientClose); // `on` spares once()'s wrapper
  }

  /** The attempt ran out of time before response headers. */
  timedOut(): void {
    this.#timer = null;
    this.#fail(new UpstreamTimeoutError('upstream did not answer in time'), false);
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #fail(err: Error, clientGone: boolean): void {
    if (this.#finished) return;
    this.#finish(err);
    const abort = this.#abort;
    if (abort && !this.#upstreamDone) abort(err);
    if (this.#z !== null) this.#z.destroy();
    if (this.#headersSent && !clientGone) destroyMidResponse(this.#res);
  }

  #finish(err: Error | null): void {
    this.#finished = true;
    this.#clearTimer();
    if (this.#onDrain !== null) this.#res.removeListener('drain', this.#onDrain);
    // After a success the response is done and the listener finds #finished set when it closes; after
    // an error another attempt may follow on the same response, so this one's listener goes.
    if (err !== null) this.#res.removeListener('close', this.#onClientClose);
    this.#sink.attemptDone(err, this.#headersSent, this.#status, this.#bytes);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#finished) {
      abort(new Error('attempt already finished'));
      return;
    }
    this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[], resume: () => void): boolean {
    if (this.#finished) return false;
    if (statusCode < 200) return true; // 1xx are handled by undici; nothing to forward
    if (!this.#sink.acceptStatus(statusCode)) {
      this.#status = statusCode;
      this.#fail(new RetryableStatusError(statusCode), false);
      return false;
    }
    this.#clearTimer();
    this.#status = statusCode;
    const res = this.#res;
    const headers: Record<string, string | string[]> = {};
    const named = connectionNamed(rawHeaders);
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      if (SKIP_RESPONSE_HEADERS.has(name) || name.startsWith('proxy-')) continue;
      if (named !== undefined && named.has(name)) continue;
      const value = rawHeaders[i + 1]!.toString('latin1');
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = [prev, value];
    }
    headers['x-request-id'] = this.#req.requestId;
    const policy = this.#req.responsePolicy;
    if (policy !== null) {
      const chunked = headers['content-length'] === undefined;
      const enc = applyResponsePolicy(headers, policy, statusCode, this.#req);
      if (enc !== undefined) this.#startCompression(enc, (policy.compression as { level: number }).level, chunked);
    }
    const extra = this.#req.extraResponseHeaders;
    if (extra !== null) for (const name in extra) headers[name] = extra[name] as string;
    this.#headersSent = true;
    this.#resume = resume;
    try {
      (res as ServerResponse).writeHead(statusCode, headers as Record<string, string>);
    } catch (err) {
      // Invalid header from upstream: the client can't get this response.
      this.#headersSent = false;
      this.#fail(err as Error, false);
      return false;
    }
    return true;
  }

  /**
   * Puts a zlib stream between the upstream body and the client. Backpressure runs both ways: the
   * compressor's input buffer full → undici pauses until the compressor drains; the client's buffer
   * full → the compressor pauses until the client drains.
   */
  #startCompression(enc: Encoding, level: number, flushEachChunk: boolean): void {
    const z = createCompressor(enc, level);
    this.#z = z;
    this.#zEncoding = enc;
    this.#zFlush = flushEachChunk;
    const res = this.#res as ServerResponse;
    let onResDrain: (() => void) | null = null;
    z.on('data', (c: Buffer) => {
      if (res.write(c)) return;
      z.pause();
      if (onResDrain === null) {
        onResDrain = () => z.resume();
        res.on('drain', onResDrain);
      }
    });
    z.on('drain', () => this.#resume?.());
    z.once('end', () => {
      if (onResDrain !== null) res.removeListener('drain', onResDrain);
      if (this.#finished) return;
      res.end();
      this.#finish(null);
    });
    z.once('error', (err: Error) => this.#fail(err, false));
  }

  onData(chunk: Buffer): boolean {
    if (this.#finished) return false;
    this.#bytes += chunk.length;
    const z = this.#z;
    if (z !== null) {
      const more = z.write(chunk);
      if (this.#zFlush) flushCompressor(z, this.#zEncoding);
      return more;
    }
    if ((this.#res as ServerResponse).write(chunk)) return true;
    // Backpressure: undici pauses until 'drain' (listened for only once it is needed).
    if (this.#onDrain === null) {
      this.#onDrain = () => this.#resume?.();
      this.#res.on('drain', this.#onDrain);
    }
    return false;
  }

  onComplete(trailers: string[] | Buffer[] | UpstreamTrailerObject | null): void {
    if (this.#finished) return;
    this.#upstreamDone = true;
    const res = this.#res;
    if (trailers !== null && isH2(res)) {
      const t = trailerRecord(trailers);
      if (t !== undefined) res.addTrailers(t);
    }
    if (this.#z !== null) {
      // The response ends (and the attempt finishes) once the compressor has written its last bytes.
      this.#clearTimer();
      this.#z.end();
      return;
    }
    res.end();
    this.#finish(null);
  }

  onError(err: Error): void {
    if (this.#finished) return;
    this.#fail(err, false);
  }

  onUpgrade(): void {
    // Upgrades go through proxy/websocket.ts, never through this handler.
  }
}

/** Trailers from an HTTP/2 upstream: undici passes node:http2's header object, not a flat list. */
type UpstreamTrailerObject = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Trailers as addTrailers takes them, or undefined when there are none. undici hands HTTP/1.1 trailers
 * as a flat [name, value, …] list and HTTP/2 trailers (gRPC's grpc-status) as a header object.
 */
function trailerRecord(trailers: string[] | Buffer[] | UpstreamTrailerObject): Record<string, string> | undefined {
  const t: Record<string, string> = {};
  let any = false;
  if (Array.isArray(trailers)) {
    for (let i = 0; i + 1 < trailers.length; i += 2) {
      t[trailers[i]!.toString().toLowerCase()] = trailers[i + 1]!.toString();
      any = true;
    }
  } else {
    for (const name in trailers) {
      const v = trailers[name];
      if (v === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
      t[name.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      any = true;
    }
  }
  return any ? t : undefined;
}

/**
 * A response that already started can't become an error response: make the client see a broken
 * response rather than a clean short one (HTTP/2: RST_STREAM; HTTP/1.1: close before the last chunk).
 */
export function destroyMidResponse(res: ClientResponse): void {
  if (isH2(res)) {
    if (!res.stream.destroyed) res.stream.close(h2constants.NGHTTP2_INTERNAL_ERROR);
  } else {
    res.destroy();
  }
}

function onAttemptTimeout(handler: AttemptHandler): void {
  handler.timedOut();
}

/** Sends one attempt; `sink.attemptDone` is called exactly once. */
export function sendAttempt(dispatcher: Dispatcher, res: ClientResponse, req: AttemptRequest, sink: AttemptSink): void {
  const handler = new AttemptHandler(res, req, sink);
  dispatcher.dispatch(
    {
      origin: req.origin,
      method: req.method as Dispatcher.HttpMethod,
      path: req.upstreamPath,
      headers: req.upstreamHeaders,
      body: req.body as Dispatcher.DispatchOptions['body'],
      headersTimeout: 0,
      bodyTimeout: req.bodyTimeoutMs,
    },
    handler,
  );
}
