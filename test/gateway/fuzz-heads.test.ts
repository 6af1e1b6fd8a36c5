/**
 * Raw-socket fuzzer (issue 10): mutated HTTP/1.1 heads and HTTP/2 header blocks against a real gateway
 * over TLS. Bounded in count and time; fixed seed. FC_SEED, FUZZ_H1 and FUZZ_H2 run it longer or with
 * another seed (docs/design.md "Property tests and fuzzing").
 * Asserts: the process keeps serving, every h1 answer is a well-formed status line or a close, and
 * whatever reached the recording upstream is well-formed (canonical path, one Host, no gateway-owned
 * or underscore header, within the header count).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { exchange, rawTls } from '../support/raw.js';
import { rawH2Request } from '../support/raw-h2.js';
import { normalizePath } from '../../src/http/normalize-path.js';

const SEED = Number(process.env.FC_SEED ?? 20261207);
const H1_COUNT = Number(process.env.FUZZ_H1 ?? 400);
const H2_COUNT = Number(process.env.FUZZ_H2 ?? 150);
const PARALLEL = 8;

const PATHS = ['/', '/a', '/%252e%252e/x', '/a/..;/b', '/a/%2e%2e/b', '/a\\b', '/a%2fb', '/../x', '//a', '/a;x', '/%00', '/.%3b/x', 'http://h/x', '*', '/a?b=%252f'];
const NAMES = ['Host', 'host', 'Content-Length', 'Content_Length', 'Transfer-Encoding', 'Transfer_Encoding', 'Connection', 'Upgrade', 'Forwarded', 'X-Real-IP', 'X-Envoy-X', 'x_user', 'X-SSL-Client-DN', 'Proxy-X', 'TE', 'Expect', 'x-ok', 'Sec-WebSocket-Key', 'X Bad', ''];
const VALUES = ['x', 'chunked', '0', '5', '-1', 'close, x-ok', 'upgrade', 'websocket', 'h2c', 'a\rb', 'a\u0000b', ' ', '100-continue', 'trailers', 'for=1.2.3.4', 'ü'];

const h1Head = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'GET ', 'G\u0000T', 'CONNECT', 'OPTIONS'),
    path: fc.oneof(fc.constantFrom(...PATHS), fc.string({ maxLength: 20 }).map((s) => `/${s}`)),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ', 'HTTP/9'),
    headers: fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.constantFrom(...VALUES)), { maxLength: 8 }),
    many: fc.constantFrom(0, 0, 0, 120),
    sep: fc.constantFrom('\r\n', '\r\n', '\n', '\r'),
    body: fc.constantFrom('', '', 'abc', '0\r\n\r\n'),
  })
  .map(({ method, path, version, headers, many, sep, body }) => {
    const lines = [`${method} ${path} ${version}`, ...headers.map(([n, v]) => `${n}: ${v}`)];
    for (let i = 0; i < many; i++) lines.push(`x-m${i}: 1`);
    return `${lines.join(sep)}${sep}${sep}${body}`;
  });

const h2Fields = fc
  .record({
    path: fc.constantFrom(...PATHS),
    authority: fc.constantFrom('x', 'X', 'a:1', ''),
    extra: fc.array(fc.tuple(fc.constantFrom(...NAMES.map((n) => n.toLowerCase()), 'X-Up', ':path', ':method'), fc.constantFrom(...VALUES.filter((v) => v !== 'ü'))), { maxLength: 6 }),
  })
  .map(({ path, authority, extra }) => [[':method', 'GET'], [':scheme', 'https'], [':authority', authority], [':path', path], ...extra] as [string, string][]);

async function inBatches<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += PARALLEL) await Promise.all(items.slice(i, i + PARALLEL).map(fn));
}

function assertUpstreamSawOnlyWellFormed(up: TestUpstream): void {
  for (const s of up.seen) {
    const path = s.url.split('?')[0] as string;
    expect(normalizePath(path), s.url).toBe(path);
    const names = s.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.filter((n) => n === 'host').length).toBe(1);
    expect(names.length).toBeLessThanOrEqual(100 + 8);
    for (const n of names) {
      expect(n).not.toMatch(/_|^x-real-ip$|^x-envoy-|^x-ssl-client-|^proxy-|^upgrade$|^te$|^transfer-encoding$/);
    }
    for (const v of s.rawHeaders) expect(v.includes('\r') || v.includes('\n') || v.includes('\u0000')).toBe(false);
  }
}

describe('raw-socket fuzzer', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway({
      limits: { headersTimeout: '2s' },
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  it('ok/mutated HTTP/1.1 heads get a well-formed answer or a close; nothing malformed is forwarded', async () => {
    const heads = fc.sample(h1Head, { seed: SEED, numRuns: H1_COUNT });
    const answers: string[] = [];
    await inBatches(heads, async (head) => {
      const s = await rawTls(t.gw.publicPort, t.rootPem);
      s.on('error', () => undefined);
      const r = await exchange(s, head, 1500);
      s.destroy();
      answers.push(r.data);
    });
    expect(answers.length).toBe(H1_COUNT);
    expect(up.seen.length).toBeGreaterThan(0); // some heads are valid: the check below is not vacuous
    for (const a of answers) if (a !== '') expect(a).toMatch(/^HTTP\/1\.[01] [1-5]\d\d /);
    assertUpstreamSawOnlyWellFormed(up);
    expect((await h1(agent, `${t.url}/after-h1`)).status).toBe(200);
  }, 120_000);

  it('ok/mutated HTTP/2 header blocks are answered or reset; nothing malformed is forwarded', async () => {
    const blocks = fc.sample(h2Fields, { seed: SEED, numRuns: H2_COUNT });
    let answered = 0;
    await inBatches(blocks, async (fields) => {
      const r = await rawH2Request(t.gw.publicPort, t.rootPem, fields, 3000).catch(() => undefined);
      if (r !== undefined && (r.stream1FrameTypes.length > 0 || r.goaway)) answered++;
    });
    expect(answered).toBeGreaterThan(H2_COUNT / 2);
    assertUpstreamSawOnlyWellFormed(up);
    expect((await h1(agent, `${t.url}/after-h2`)).status).toBe(200);
  }, 120_000);
});
