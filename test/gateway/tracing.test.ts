/**
 * Issue 16: OpenTelemetry traces exported over OTLP/HTTP (JSON) to a real receiver started by the
 * test (a node:http server on loopback recording what it is POSTed). One SERVER span per request,
 * one CLIENT span per upstream attempt (a retry shows as a second one), the W3C traceparent honoured
 * and continued, sampling by ratio (randomness injected), and the trace id in the access line.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRandom, type Random } from '../../src/core/random.js';
import { h1, h1Agent, h2, h2Session } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { ok, startUpstream, status, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface Export {
  contentType: string | undefined;
  service: string | undefined;
  spans: OtlpSpan[];
}

const SERVER = 2;
const CLIENT = 3;

function attr(span: OtlpSpan, key: string): string | number | boolean | undefined {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.boolValue;
}

/** The collector: records each POSTed OTLP/JSON export request. */
async function startReceiver(): Promise<{ server: Server; url: string; exports: Export[]; spans: () => OtlpSpan[] }> {
  const exports: Export[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans) {
          exports.push({
            contentType: req.headers['content-type'],
            service: rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue,
            spans: rs.scopeSpans.flatMap((s) => s.spans),
          });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, exports, spans: () => exports.flatMap((e) => e.spans) };
}

describe('tracing over OTLP/HTTP', () => {
  let flaky: TestUpstream;
  let steady: TestUpstream;
  let t: TestGateway;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let agent: Agent;
  let session: ClientHttp2Session;
  /** What the gateway's random.next() returns: below sampleRatio samples a new trace. */
  let draw = 0.1;
  const random: Random = { next: () => draw, hex: (n) => systemRandom.hex(n) };

  beforeAll(async () => {
    receiver = await startReceiver();
    // The first request to "flaky" is a 503 (retried on "steady"); round-robin starts at the first target.
    flaky = await startUpstream('flaky', (_req, n) => (n === 0 ? status(503) : ok()));
    steady = await startUpstream('steady');
    t = await startTestGateway(
      {
        tracing: { otlpEndpoint: receiver.url, sampleRatio: 0.5, serviceName: 'edge-test', flushInterval: '100ms' },
        routes: [
          { name: 'retry', match: { pathPrefix: '/retry' }, upstream: 'both', retries: { attempts: 1, on: ['503'] } },
          { name: 'plain', match: { pathPrefix: '/plain' }, upstream: 'one' },
        ],
        upstreams: {
          both: { targets: [{ url: flaky.url }, { url: steady.url }] },
          one: { targets: [{ url: steady.url }] },
        },
      },
      { random },
    );
    agent = h1Agent({ ca: t.rootPem });
    session = await h2Session(t.url, { ca: t.rootPem });
  });

  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    await flaky?.close();
    await steady?.close();
    await new Promise((r) => receiver?.server.close(r));
  });

  const spansOf = (traceId: string): OtlpSpan[] => receiver.spans().filter((s) => s.traceId === traceId);

  it('ok/one SERVER span per request, a CLIENT span per attempt (the retry shows), parent links and attributes; the caller\'s trace continued', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    draw = 0.99; // the incoming sampled flag decides, not the ratio
    const res = await h1(agent, `${t.url}/retry/items?secret=1`, { headers: { traceparent: `00-${traceId}-${callerSpan}-01`, 'user-agent': 'trace-test/1.0' } });
    expect(res.status).toBe(200);
    const spans = await waitFor(() => (spansOf(traceId).length >= 3 ? spansOf(traceId) : undefined), { timeoutMs: 10_000, what: 'three spans exported' });
    expect(spans).toHaveLength(3);
    const server = spans.find((s) => s.kind === SERVER) as OtlpSpan;
    expect(server.name).toBe('GET retry');
    expect(server.parentSpanId).toBe(callerSpan);
    expect(attr(server, 'http.request.method')).toBe('GET');
    expect(attr(server, 'http.route')).toBe('retry');
    expect(attr(server, 'http.response.status_code')).toBe(200);
    expect(attr(server, 'url.path')).toBe('/retry/items'); // never the query
    expect(attr(server, 'client.address')).toBe('127.0.0.1');
    expect(attr(server, 'user_agent.original')).toBe('trace-test/1.0');
    expect(attr(server, 'network.protocol.version')).toBe('1.1');
    expect(attr(server, 'tollgate.request_id')).toBe(res.headers['x-request-id']);

    const attempts = spans.filter((s) => s.kind === CLIENT).sort((a, b) => Number(attr(a, 'tollgate.attempt')) - Number(attr(b, 'tollgate.attempt')));
    expect(attempts.map((s) => s.parentSpanId)).toEqual([server.spanId, server.spanId]);
    expect(attempts.map((s) => attr(s, 'http.response.status_code'))).toEqual([503, 200]);
    expect(attempts.map((s) => attr(s, 'server.port'))).toEqual([flaky.port, steady.port]);
    expect(attempts.map((s) => attr(s, 'server.address'))).toEqual(['127.0.0.1', '127.0.0.1']);
    expect(attempts[0]?.status?.code).toBe(2); // ERROR
    expect(attempts.every((s) => s.name === 'GET' && attr(s, 'tollgate.upstream.pool') === 'both')).toBe(true);

    // Each upstream saw its own attempt span as the parent, in the caller's trace.
    expect(flaky.seen.at(-1)?.headers.traceparent).toBe(`00-${traceId}-${attempts[0]?.spanId}-01`);
    expect(steady.seen.at(-1)?.headers.traceparent).toBe(`00-${traceId}-${attempts[1]?.spanId}-01`);
    const line = t.logs.find({ msg: 'request', requestId: res.headers['x-request-id'] })[0];
    expect(line).toMatchObject({ traceId, route: 'retry', attempts: 2, userAgent: 'trace-test/1.0', host: '127.0.0.1', tls: 'TLSv1.3', identity: 'anonymous' });
    const exp = receiver.exports.find((e) => e.spans.some((s) => s.traceId === traceId));
    expect(exp?.service).toBe('edge-test');
    expect(exp?.contentType).toContain('application/json');
  });

  it('ok/a new trace is sampled by ratio: under it spans go out, over it none, the trace id is logged and continued either way', async () => {
    draw = 0.9; // over sampleRatio 0.5: not sampled
    const unsampled = await h1(agent, `${t.url}/plain/a`);
    expect(unsampled.status).toBe(200);
    const tp = steady.seen.at(-1)?.headers.traceparent as string;
    expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const unsampledTrace = tp.slice(3, 35);
    expect(t.logs.find({ msg: 'request', requestId: unsampled.headers['x-request-id'] })[0]).toMatchObject({ traceId: unsampledTrace });

    // An incoming unsampled traceparent stays unsampled even when the ratio would sample.
    draw = 0.1;
    const parentOff = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    await h1(agent, `${t.url}/plain/b`, { headers: { traceparent: `00-${parentOff}-bbbbbbbbbbbbbbbb-00` } });
    expect(steady.seen.at(-1)?.headers.traceparent).toMatch(new RegExp(`^00-${parentOff}-[0-9a-f]{16}-00$`));

    const sampled = await h1(agent, `${t.url}/plain/c`);
    const sampledTrace = (steady.seen.at(-1)?.headers.traceparent as string).slice(3, 35);
    expect(t.logs.find({ msg: 'request', requestId: sampled.headers['x-request-id'] })[0]).toMatchObject({ traceId: sampledTrace });
    const spans = await waitFor(() => (spansOf(sampledTrace).length >= 2 ? spansOf(sampledTrace) : undefined), { timeoutMs: 10_000, what: 'the sampled trace' });
    expect(spans.find((s) => s.kind === SERVER)?.parentSpanId ?? '').toBe(''); // a root span
    // Exports are in order: the unsampled requests, earlier, had their chance.
    expect(spansOf(unsampledTrace)).toEqual([]);
    expect(spansOf(parentOff)).toEqual([]);
  });

  it('ok/over HTTP/2 too, and a request refused before any upstream still gets its SERVER span', async () => {
    draw = 0.1;
    const res = await h2(session, '/plain/h2', { headers: { 'user-agent': 'h2-client' } });
    expect(res.status).toBe(200);
    const traceId = (steady.seen.at(-1)?.headers.traceparent as string).slice(3, 35);
    const spans = await waitFor(() => (spansOf(traceId).length >= 2 ? spansOf(traceId) : undefined), { timeoutMs: 10_000, what: 'h2 spans' });
    const server = spans.find((s) => s.kind === SERVER) as OtlpSpan;
    expect(attr(server, 'network.protocol.version')).toBe('2');
    expect(t.logs.find({ msg: 'request', requestId: res.headers['x-request-id'] })[0]).toMatchObject({ proto: 'h2', tls: 'TLSv1.3', userAgent: 'h2-client', traceId });
    expect(spans.find((s) => s.kind === CLIENT)?.parentSpanId).toBe(server.spanId);

    const missing = await h2(session, '/nowhere');
    expect(missing.status).toBe(404);
    const line = t.logs.find({ msg: 'request', requestId: missing.headers['x-request-id'] })[0] as { traceId: string };
    expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
    const refused = await waitFor(() => spansOf(line.traceId)[0], { timeoutMs: 10_000, what: 'the 404 span' });
    expect(refused.name).toBe('GET');
    expect(attr(refused, 'http.response.status_code')).toBe(404);
    expect(attr(refused, 'error.type')).toBe('NO_ROUTE');
  });

  it('ok/off by default: no tracer in the snapshot', async () => {
    const plain = await startTestGateway({ routes: [], upstreams: {} });
    try {
      expect(plain.gw.holder.current.tracing).toBeUndefined();
    } finally {
      await plain.stop();
    }
    expect(t.gw.holder.current.tracing).toBeDefined();
  });
});
