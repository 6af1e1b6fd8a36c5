/**
 * OpenTelemetry traces: one SERVER span per request and one CLIENT span per upstream attempt (so
 * retries show), exported over OTLP/HTTP (JSON) in batches by the SDK's BatchSpanProcessor.
 *
 * Off (no `tracing.otlpEndpoint`), the snapshot holds no Tracing and the pipeline makes nothing. On,
 * each request gets one small RequestTrace; spans are made only for sampled requests. Sampling is
 * parent-based: a valid incoming `traceparent` decides by its sampled flag; a new trace is sampled
 * when `random.next() < sampleRatio`. The trace id is kept either way (the access line carries it and
 * the upstream's `traceparent` continues it, with flags 00 when not sampled).
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type * as SdkTraceBase from '@opentelemetry/sdk-trace-base';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as Resources from '@opentelemetry/resources';
import type { Random } from '../core/random.js';
import type { Clock } from '../core/clock.js';
import { nonZeroHex, parseTraceparent } from '../http/traceparent.js';
import type { Logger } from './logger.js';

export interface TracingOptions {
  readonly otlpEndpoint: string;
  readonly sampleRatio: number;
  readonly serviceName: string;
  readonly flushIntervalMs: number;
  readonly maxQueueSize: number;
  readonly maxBatchSize: number;
  readonly exportTimeoutMs: number;
}

/** A running tracer provider with its exporter: made by the control plane, read by the pipeline. */
export interface Tracing {
  readonly tracer: Tracer;
  readonly sampleRatio: number;
  /** Exports what is queued and stops. */
  shutdown(): Promise<void>;
}

/**
 * The SDK and exporter are loaded on first use, not at import: with tracing off (the default) a
 * process never pays their load time (about 0.17 s of CPU at every start). The API package stays a
 * static import; it is small, and the SDK finds the same global registry through it.
 */
const requireLazily = createRequire(import.meta.url);

/** Export failures are logged at most this often. */
const EXPORT_WARN_INTERVAL_MS = 10_000;

/** Starts a provider exporting to `opts.otlpEndpoint`; span and trace ids come from `random`. */
export function createTracing(opts: TracingOptions, random: Random, clock: Clock, logger: Logger): Tracing {
  const { BasicTracerProvider, BatchSpanProcessor } = requireLazily('@opentelemetry/sdk-trace-base') as typeof SdkTraceBase;
  const { OTLPTraceExporter } = requireLazily('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpHttp;
  const { resourceFromAttributes } = requireLazily('@opentelemetry/resources') as typeof Resources;
  const otlp = new OTLPTraceExporter({ url: opts.otlpEndpoint, timeoutMillis: opts.exportTimeoutMs });
  let lastWarn = -Infinity;
  // The SDK reports export failures only to its global diag logger: they go to ours instead.
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      otlp.export(spans, (result) => {
        if (result.code !== 0 && clock.monotonic() - lastWarn > EXPORT_WARN_INTERVAL_MS) {
          lastWarn = clock.monotonic();
          logger.warn({ msg: 'trace export failed', endpoint: opts.otlpEndpoint, spans: spans.length, err: String(result.error) });
        }
        done(result);
      });
    },
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    idGenerator: { generateTraceId: () => nonZeroHex(random, 16), generateSpanId: () => nonZeroHex(random, 8) },
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: opts.flushIntervalMs,
        maxQueueSize: opts.maxQueueSize,
        maxExportBatchSize: Math.min(opts.maxBatchSize, opts.maxQueueSize),
        exportTimeoutMillis: opts.exportTimeoutMs,
      }),
    ],
  });
  return { tracer: provider.getTracer('tollgate'), sampleRatio: opts.sampleRatio, shutdown: () => provider.shutdown() };
}

/** The trace of one request: its ids, and its spans when sampled. */
export class RequestTrace {
  /** The SERVER span; undefined when not sampled. */
  server: Span | undefined = undefined;
  /** The CLIENT span of the attempt in flight. */
  attempt: Span | undefined = undefined;
  constructor(
    readonly traceId: string,
    /** `traceparent` for an unsampled request: our hop's id, the caller's flags. */
    readonly unsampledHeader: string,
    /** The request method: the SERVER span's name, before the route is known. */
    readonly method: string,
  ) {}

  get sampled(): boolean {
    return this.server !== undefined;
  }
}

/** What a request's SERVER span starts with. */
export interface ServerSpanStart {
  readonly method: string;
  readonly client: string;
  readonly userAgent: string | undefined;
  readonly h2: boolean;
  readonly requestId: string;
}

/** Starts the trace of a request (incoming `traceparent` honoured), with its SERVER span when sampled. */
export function beginTrace(tracing: Tracing, incoming: string | undefined, random: Random, s: ServerSpanStart): RequestTrace {
  const parent = incoming === undefined ? undefined : parseTraceparent(incoming);
  const sampled = parent !== undefined ? (parent.flags & 1) === 1 : random.next() < tracing.sampleRatio;
  if (!sampled) {
    const traceId = parent?.traceId ?? nonZeroHex(random, 16);
    const flags = parent === undefined ? '00' : parent.flagsHex;
    return new RequestTrace(traceId, `00-${traceId}-${nonZeroHex(random, 8)}-${flags}`, s.method);
  }
  const ctx =
    parent === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
  const attributes: Attributes = {
    'http.request.method': s.method,
    'url.scheme': 'https',
    'client.address': s.client,
    'network.protocol.version': s.h2 ? '2' : '1.1',
    'tollgate.request_id': s.requestId,
  };
  if (s.userAgent !== undefined) attributes['user_agent.original'] = s.userAgent;
  const span = tracing.tracer.startSpan(s.method, { kind: SpanKind.SERVER, attributes }, ctx);
  const t = new RequestTrace(span.spanContext().traceId, '', s.method);
  t.server = span;
  return t;
}

/** Starts the CLIENT span of an upstream attempt; returns the `traceparent` to send with it. */
export function beginAttemptSpan(tracing: Tracing, t: RequestTrace, method: string, pool: string, target: string, attempt: number): string {
  const server = t.server;
  if (server === undefined) return t.unsampledHeader;
  let address = target;
  let port = 0;
  try {
    const u = new URL(target);
    address = u.hostname;
    port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
  } catch {
    // a target URL is validated by the schema; keep the raw text if it ever is not a URL
  }
  const span = tracing.tracer.startSpan(
    method,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': method,
        'server.address': address,
        'server.port': port,
        'tollgate.upstream.pool': pool,
        'tollgate.upstream.target': target,
        'tollgate.attempt': attempt,
      },
    },
    trace.setSpan(ROOT_CONTEXT, server),
  );
  t.attempt = span;
  return `00-${t.traceId}-${span.spanContext().spanId}-01`;
}

/** Ends the attempt in flight: its status, or the kind of failure. */
export function endAttemptSpan(t: RequestTrace, status: number, errorType: string | undefined): void {
  const span = t.attempt;
  if (span === undefined) return;
  t.attempt = undefined;
  if (status > 0) span.setAttribute('http.response.status_code', status);
  if (errorType !== undefined) {
    span.setAttribute('error.type', errorType);
    span.setStatus({ code: SpanStatusCode.ERROR });
  } else if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** Ends the request's SERVER span (and an attempt left open). */
export function endTrace(t: RequestTrace, route: string | undefined, status: number, code: string | undefined, path: string, host: string): void {
  const span = t.server;
  if (span === undefined) return;
  span.setAttribute('url.path', path);
  if (host !== '') span.setAttribute('server.address', host);
  if (t.attempt !== undefined) endAttemptSpan(t, 0, 'aborted');
  if (route !== undefined) {
    span.setAttribute('http.route', route);
    span.updateName(`${t.method} ${route}`);
  }
  span.setAttribute('http.response.status_code', status);
  if (code !== undefined) span.setAttribute('error.type', code);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
  t.server = undefined;
}
