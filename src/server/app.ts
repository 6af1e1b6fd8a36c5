/**
 * The public application: fastify on the node:http2 secure server. Fastify serves the fixed routes
 * (the CA API); every other request goes to the proxy pipeline. By default the pipeline is called
 * straight from the server's request event (`dataPath: 'direct'`); `dataPath: 'fastify'` routes it
 * through a fastify catch-all with `reply.hijack()` instead. bench/ measures both; see docs/design.md.
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Http2SecureServer } from 'node:http2';
import { codeForClientStatus, GatewayError, renderError } from '../core/errors.js';
import type { Random } from '../core/random.js';
import type { ClientRequest, ClientResponse } from '../proxy/forward.js';
import { handleRequest, handleUpgrade, type PipelineDeps } from './pipeline.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createPublicServer, type ConnectionTracker, type ListenerLimits, type ListenerTls } from './listener.js';
import type { OverloadManager, Sampler } from './overload.js';
import { sendError, toGatewayError } from './error-reply.js';
import { newRequestId } from '../http/request-id.js';

export interface PublicAppOptions {
  readonly tls: ListenerTls;
  readonly limits: ListenerLimits;
  readonly pipeline: PipelineDeps;
  readonly random: Random;
  /** Fixed routes (the CA API) and the path prefix they live under. */
  readonly fixed?: { readonly prefix: string; readonly plugin: FastifyPluginAsync };
  readonly dataPath?: 'direct' | 'fastify';
  /** Overload sampler (tests); default: this process's event-loop delay and heap. */
  readonly overloadSampler?: Sampler;
}

export interface PublicApp {
  readonly app: FastifyInstance;
  readonly server: Http2SecureServer;
  readonly tracker: ConnectionTracker;
  /** The overload manager (limits.overload): sheds new connections and requests. */
  readonly overload: OverloadManager;
  /** Requests being handled right now (for draining). */
  inFlight(): number;
}

/** Builds the fastify app and its server; call `app.ready()` then listen on `server`. */
export async function createPublicApp(opts: PublicAppOptions): Promise<PublicApp> {
  let inFlight = 0;
  const onDone = (): void => {
    inFlight--;
  };
  const track = (res: ClientResponse): void => {
    inFlight++;
    res.on('close', onDone); // a response closes once; `on` spares once()'s per-call wrapper
  };
  const prefix = opts.fixed?.prefix;
  const isFixed = (url: string | undefined): boolean =>
    prefix !== undefined && url !== undefined && url.startsWith(prefix) && (url.length === prefix.length || url[prefix.length] === '/' || url[prefix.length] === '?');
  const direct = (opts.dataPath ?? 'direct') === 'direct';
  const m = opts.pipeline.metrics;

  let created: { server: Http2SecureServer; tracker: ConnectionTracker; overload: OverloadManager } | undefined;
  const fastifyOptions = {
    logger: false,
    http2: true,
    return503OnClosing: false,
    bodyLimit: 1024 * 1024,
    serverFactory: (fastifyHandler: (req: ClientRequest, res: ClientResponse) => void) => {
      created = createPublicServer(
        opts.tls,
        opts.limits,
        (req, res) => {
          track(res);
          if (direct && !isFixed(req.url)) handleRequest(opts.pipeline, req, res);
          else {
            // Expect: 100-continue (the listener sends 'checkContinue' requests here too): the pipeline
            // answers 100 itself once the request goes upstream (an early refusal gets its final status
            // without one) and never forwards `expect`; the fixed routes take the body at once.
            if (req.headers.expect !== undefined && isFixed(req.url)) res.writeContinue();
            fastifyHandler(req, res);
          }
        },
        opts.random,
        {
          onConnectionRejected: (reason) => m.connectionsRejected.labels(reason).inc(),
          onShed: (kind) => m.overloadShed.labels(kind).inc(),
          onOverloadChange: (on, reason) => {
            m.overloaded.set(on ? 1 : 0);
            if (on) opts.pipeline.logger.warn({ msg: 'overloaded: shedding new connections and requests', reason });
            else opts.pipeline.logger.info({ msg: 'overload over' });
          },
          onBodyCut: (kind) => m.bodyCuts.labels(kind).inc(),
          overloadSampler: opts.overloadSampler,
        },
      );
      created.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (isFixed(req.url)) {
          socket.destroy();
          return;
        }
        // An upgraded connection (WebSocket) counts as in flight until it closes, so shutdown drains it
        // like a request (up to shutdown.drainTimeout) instead of cutting it.
        inFlight++;
        socket.once('close', onDone);
        handleUpgrade(opts.pipeline, req, socket, head);
      });
      return created.server;
    },
    frameworkErrors: (err: Error, _req: FastifyRequest, reply: FastifyReply) => {
      const id = newRequestId(opts.random);
      const r = renderError('BAD_REQUEST', id, err.message);
      reply.code(r.status).headers(r.headers).send(r.body);
    },
  };
  const app = Fastify(fastifyOptions as unknown as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  // Leave proxied bodies unread (the proxy streams them upstream); read small JSON bodies for the
  // fixed routes (the CA API) only.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (req, payload, done) => {
    if (!isFixed(req.url)) {
      done(null);
      return;
    }
    readSmallJson(payload as unknown as NodeJS.ReadableStream, 64 * 1024).then(
      (body) => done(null, body),
      (err: Error) => done(err, undefined),
    );
  });

  if (opts.fixed) await app.register(opts.fixed.plugin);

  app.setNotFoundHandler((request, reply) => {
    reply.hijack();
    handleRequest(opts.pipeline, request.raw, reply.raw);
  });
  app.setErrorHandler((err, request, reply) => {
    const gerr = toGatewayError(err);
    const status = (err as { statusCode?: number }).statusCode;
    const id = newRequestId(opts.random);
    if (gerr.code === 'INTERNAL' && status !== undefined && status >= 400 && status < 500) {
      // A client error fastify chose itself (media type, framing …): its code by status, its message.
      const r = renderError(codeForClientStatus(status), id, (err as Error).message);
      reply.code(r.status).headers(r.headers).send(r.body);
      return;
    }
    reply.hijack();
    sendError(reply.raw, gerr, id);
  });

  await app.ready();
  if (created === undefined) throw new Error('fastify did not call serverFactory');
  return { app, server: created.server, tracker: created.tracker, overload: created.overload, inFlight: () => inFlight };
}

function readSmallJson(stream: NodeJS.ReadableStream, max: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new GatewayError('PAYLOAD_TOO_LARGE', 'Body too large'));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('error', reject);
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? {} : JSON.parse(text));
      } catch {
        reject(new GatewayError('BAD_REQUEST', 'Body is not valid JSON'));
      }
    });
  });
}
