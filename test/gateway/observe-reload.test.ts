/**
 * Issue 16: `tracing`, `accessLog` and forward-auth pools follow a reload: turning tracing on starts
 * a provider, turning it off stops it (spans queued before are still exported), the access line's
 * fields change for the next request, and an auth service no route names any more is let go.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h1, h1Agent } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';

describe('reloading tracing, accessLog and auth.forward', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  let receiver: Server;
  let receiverUrl: string;
  let auth: Server;
  let authUrl: string;
  const posted: string[] = [];

  const base = { upstreams: { app: { targets: [{ url: '' }] } } };
  const routes = (withAuth: boolean): unknown[] => [
    { name: 'app', match: { pathPrefix: '/' }, upstream: 'app', ...(withAuth ? { auth: { forward: { url: `${authUrl}/ok` } } } : {}) },
  ];

  beforeAll(async () => {
    up = await startUpstream('app');
    base.upstreams.app.targets[0]!.url = up.url;
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posted.push(body);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    auth = createServer((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => auth.listen(0, '127.0.0.1', () => r()));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
    authUrl = `http://127.0.0.1:${(auth.address() as AddressInfo).port}`;
    t = await startTestGateway({ ...base, routes: routes(false) });
    agent = h1Agent({ ca: t.rootPem });
  });

  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
    await new Promise((r) => receiver?.close(r));
    await new Promise((r) => auth?.close(r));
  });

  it('ok/tracing on, then off; access fields changed; the auth pool held only while a route names it', async () => {
    expect(t.gw.holder.current.tracing).toBeUndefined();
    expect(t.gw.holder.current.resources.size).toBe(0);

    await t.writeConfig({ ...base, routes: routes(true), tracing: { otlpEndpoint: receiverUrl, flushInterval: '10s' }, accessLog: { fields: ['requestId', 'traceId', 'status'] } });
    expect((await t.gw.reload()).result).toBe('success');
    expect(t.gw.holder.current.tracing).toBeDefined();
    expect(t.gw.holder.current.resources.size).toBe(2);
    const res = await h1(agent, `${t.url}/a`);
    expect(res.status).toBe(200);
    const traceId = (up.seen.at(-1)?.headers.traceparent as string).slice(3, 35);
    const line = t.logs.find({ msg: 'request', requestId: res.headers['x-request-id'] })[0];
    expect(line).toEqual({ level: 'info', time: line?.time, service: 'tollgate', msg: 'request', requestId: res.headers['x-request-id'], traceId, status: 200 });

    // Off again: the provider is shut down, which exports what it held (flushInterval 10s not waited for).
    await t.writeConfig({ ...base, routes: routes(false) });
    expect((await t.gw.reload()).result).toBe('success');
    expect(t.gw.holder.current.tracing).toBeUndefined();
    expect(t.gw.holder.current.resources.size).toBe(0);
    await waitFor(() => posted.some((b) => b.includes(traceId)), { timeoutMs: 10_000, what: 'spans flushed at shutdown of the provider' });
    const after = await h1(agent, `${t.url}/b`);
    expect(up.seen.at(-1)?.headers.traceparent).toMatch(/-01$/); // tracing off: continued as before
    expect(t.logs.find({ msg: 'request', requestId: after.headers['x-request-id'] })[0]).toMatchObject({ route: 'app', method: 'GET', path: '/b' });
  });
});
