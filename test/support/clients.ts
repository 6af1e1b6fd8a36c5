/** TLS clients for tests: HTTP/1.1 through undici, HTTP/2 through node:http2. */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { Agent, request } from 'undici';

export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An undici Agent trusting `tls.ca` (HTTP/1.1). */
export function h1Agent(tls: ClientTls, opts: { connections?: number } = {}): Agent {
  return new Agent({ connect: { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername }, connections: opts.connections ?? 16 });
}

/** One HTTP/1.1 request; the whole body as text. */
export async function h1(agent: Agent, url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<SimpleResponse> {
  const res = await request(url, { dispatcher: agent, method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body });
  return { status: res.statusCode, headers: res.headers as Record<string, string | string[] | undefined>, body: await res.body.text() };
}

/** An HTTP/2 session to `origin`. */
export function h2Session(origin: string, tls: ClientTls): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = connect(origin, { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** One HTTP/2 request on `session`. */
export function h2(session: ClientHttp2Session, path: string, opts: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': opts.method ?? 'GET', ':path': path, ...opts.headers }, { endStream: opts.body === undefined });
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(headers[':status']), headers: headers as Record<string, string>, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
    if (opts.body !== undefined) stream.end(opts.body);
  });
}
