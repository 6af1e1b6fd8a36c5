/**
 * Upstream protocols and upstream TLS: gRPC end to end over HTTP/2 (client → gateway → h2 upstream, with
 * trailers back), h2c with prior knowledge, and mesh mTLS (`tls: { identity: workload }`): the upstream
 * sees the gateway's CA-issued workload certificate, and the gateway accepts only upstreams whose
 * certificate chains to its built-in root. Upstream certificates come from the gateway's own CA.
 */
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createSecureServer,
  createServer as createH2cServer,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import type { ClientHttp2Session } from 'node:http2';
import { ensureCaAuthority, type Authority } from '../../src/ca/authority.js';
import { systemClock } from '../../src/core/clock.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { h1, h1Agent, h2, h2Session } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { upstreamStatus } from './support.js';

/** A P-256 key pair: the public CryptoKey for the CA, the private key as PKCS#8 PEM for the server. */
async function keyPair(): Promise<{ publicKey: webcrypto.CryptoKey; keyPem: string }> {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return { publicKey: pair.publicKey, keyPem: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n` };
}

/** A server certificate for 127.0.0.1 from `authority`. */
async function serverCert(authority: Authority, name: string): Promise<{ cert: string; key: string }> {
  const { publicKey, keyPem } = await keyPair();
  const issued = await authority.issue({ id: `spiffe://${authority.trustDomain}/${name}`, ip: ['127.0.0.1'], dns: ['localhost'], ttlMs: 3_600_000, publicKey });
  return { cert: issued.chainPem, key: keyPem };
}

/** One gRPC message frame: uncompressed flag, 4-byte length, payload. */
function grpcFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** The URI SAN of the TLS peer, or '' when it sent no certificate. */
function peerUri(socket: TLSSocket): string {
  const san = socket.getPeerCertificate().subjectaltname ?? '';
  return /URI:([^,]+)/.exec(san)?.[1] ?? '';
}

function listen(server: Http2SecureServer | Http2Server | HttpsServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Http2SecureServer | Http2Server | HttpsServer | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

interface GrpcCall {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

/** A unary gRPC-shaped call over the client's h2 session. */
function grpcCall(session: ClientHttp2Session, path: string, payload: string): Promise<GrpcCall> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (h) => (trailers = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(headers[':status']), headers, trailers, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    stream.end(grpcFrame(payload));
  });
}

describe('pools: HTTP/2 upstreams, gRPC with trailers, upstream mTLS', () => {
  let t: TestGateway;
  let agent: Agent;
  let session: ClientHttp2Session;
  let grpc: Http2SecureServer;
  let h2c: Http2Server;
  let mesh: HttpsServer;
  let foreign: HttpsServer;
  let foreignDir: string;
  /** What the h2 upstreams saw: headers, ALPN, the client certificate's URI SAN. */
  const grpcSeen: { path: string; headers: IncomingHttpHeaders; alpn: string; peer: string }[] = [];
  const h2cSeen: { headers: IncomingHttpHeaders }[] = [];
  let h2cSessions = 0;

  beforeAll(async () => {
    // The gateway first (it owns the CA), then upstreams with certificates from that CA, then a reload.
    t = await startTestGateway({ routes: [], upstreams: {} });
    const authority = t.gw.tls.authority;
    const rootPem = t.rootPem;

    grpc = createSecureServer({ ...(await serverCert(authority, 'grpc')), ca: rootPem, requestCert: true, rejectUnauthorized: true, allowHTTP1: false });
    grpc.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      const socket = stream.session!.socket as TLSSocket;
      const path = String(headers[':path']);
      grpcSeen.push({ path, headers, alpn: String(socket.alpnProtocol), peer: peerUri(socket) });
      if (path === '/healthz') {
        stream.respond({ ':status': 200 });
        stream.end('ok');
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const request = Buffer.concat(chunks).subarray(5).toString();
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () =>
          stream.sendTrailers(path.endsWith('/Fail') ? { 'grpc-status': '5', 'grpc-message': 'not found' } : { 'grpc-status': '0', 'grpc-message': 'OK' }),
        );
        stream.end(grpcFrame(`echo:${request}`));
      });
    });

    h2c = createH2cServer();
    h2c.on('session', () => h2cSessions++);
    h2c.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      h2cSeen.push({ headers });
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      // A little latency, so concurrent requests overlap at the upstream.
      setTimeout(() => stream.end('h2c'), 50);
    });

    mesh = createHttpsServer({ ...(await serverCert(authority, 'mesh')), ca: rootPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`peer=${peerUri(req.socket as TLSSocket)}`);
    });

    // A server whose certificate comes from another CA: the gateway must refuse it.
    foreignDir = await mkdtemp(join(tmpdir(), 'tollgate-foreign-ca-'));
    const otherCa = await ensureCaAuthority(foreignDir, 'tollgate.local', systemClock);
    foreign = createHttpsServer(await serverCert(otherCa, 'foreign'), (_req, res) => res.end('should not be reached'));

    const [grpcPort, h2cPort, meshPort, foreignPort] = await Promise.all([listen(grpc), listen(h2c), listen(mesh), listen(foreign)]);
    await t.writeConfig({
      routes: [
        { name: 'grpc', match: { pathPrefix: '/grpc.Test' }, upstream: 'grpc' },
        { name: 'h2c', match: { pathPrefix: '/h2c' }, upstream: 'h2c' },
        { name: 'mesh', match: { pathPrefix: '/mesh' }, upstream: 'mesh' },
        { name: 'foreign', match: { pathPrefix: '/foreign' }, upstream: 'foreign' },
      ],
      upstreams: {
        grpc: {
          protocol: 'h2',
          tls: { identity: 'workload' },
          targets: [{ url: `https://127.0.0.1:${grpcPort}` }],
          healthCheck: { path: '/healthz', interval: '100ms', timeout: '2s', healthyThreshold: 1, unhealthyThreshold: 2 },
        },
        h2c: { protocol: 'h2', targets: [{ url: `http://127.0.0.1:${h2cPort}` }] },
        mesh: { tls: { identity: 'workload' }, targets: [{ url: `https://127.0.0.1:${meshPort}` }] },
        foreign: { tls: { identity: 'workload' }, targets: [{ url: `https://127.0.0.1:${foreignPort}` }] },
      },
    });
    const reloaded = await t.gw.reload();
    expect(reloaded.result).toBe('success');
    agent = h1Agent({ ca: rootPem });
    session = await h2Session(t.url, { ca: rootPem });
  });

  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    await Promise.all([close(grpc), close(h2c), close(mesh), close(foreign)]);
    if (foreignDir) await rm(foreignDir, { recursive: true, force: true });
  });

  it('ok/gRPC over h2 end to end: request headers reach the upstream, trailers reach the client', async () => {
    const res = await grpcCall(session, '/grpc.Test/Echo', 'hello');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/grpc');
    expect(res.body.subarray(5).toString()).toBe('echo:hello');
    expect(res.trailers['grpc-status']).toBe('0');
    expect(res.trailers['grpc-message']).toBe('OK');
    const seen = grpcSeen.find((s) => s.path === '/grpc.Test/Echo')!;
    expect(seen.alpn).toBe('h2');
    expect(seen.headers['content-type']).toBe('application/grpc');
    expect(seen.headers.te).toBe('trailers');
    expect(seen.headers[':method']).toBe('POST');
    expect(seen.headers[':authority']).toBe(`127.0.0.1:${t.gw.publicPort}`);
  });

  it('ok/a gRPC error status arrives as a trailer', async () => {
    const res = await grpcCall(session, '/grpc.Test/Fail', 'x');
    expect(res.status).toBe(200);
    expect(res.trailers['grpc-status']).toBe('5');
    expect(res.trailers['grpc-message']).toBe('not found');
  });

  it('ok/the h2 upstream sees the gateway workload identity, probes included', async () => {
    await waitFor(() => grpcSeen.filter((s) => s.path === '/healthz').length >= 2, { timeoutMs: 3000, what: 'h2 health probes' });
    const gatewayId = `spiffe://${t.gw.tls.authority.trustDomain}/tollgate`;
    expect(t.gw.tls.gatewayId).toBe(gatewayId);
    expect(new Set(grpcSeen.map((s) => s.peer))).toEqual(new Set([gatewayId]));
    expect(new Set(grpcSeen.map((s) => s.alpn))).toEqual(new Set(['h2']));
    expect((await upstreamStatus(t, 'grpc')).targets[0]!.healthy).toBe(true);
  });

  it('ok/protocol h2 on an http:// target speaks h2c with prior knowledge', async () => {
    const res = await h1(agent, `${t.url}/h2c/x`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('h2c');
    expect(h2cSeen).toHaveLength(1);
    expect(h2cSeen[0]!.headers[':path']).toBe('/h2c/x');
  });

  it('ok/concurrent bodiless requests share one HTTP/2 session to the upstream', async () => {
    const before = h2cSessions;
    const res = await Promise.all(Array.from({ length: 8 }, (_, i) => h2(session, `/h2c/many-${i}`)));
    expect(res.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(h2cSessions).toBe(before);
    expect(h2cSessions).toBe(1);
  });

  it('ok/an https upstream that requires a client certificate sees the gateway workload identity', async () => {
    const res = await h2(session, '/mesh/who');
    expect(res.status).toBe(200);
    expect(res.body).toBe(`peer=${t.gw.tls.gatewayId}`);
  });

  it('error/an upstream certificate from another CA is refused (verified against the built-in root only)', async () => {
    const res = await h1(agent, `${t.url}/foreign/x`);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body).error.code).toBe('UPSTREAM_UNAVAILABLE');
    const line = t.logs.find({ msg: 'request', route: 'foreign' })[0]!;
    expect(line.code).toBe('UPSTREAM_UNAVAILABLE');
  });
});
