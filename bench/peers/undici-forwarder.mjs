// The single-process Node ceiling: TLS listener + undici Pool, nothing else per request.
//   default:   node:https (HTTP/1.1 only)
//   --http2:   node:http2 secure server with allowHTTP1 (h2 + http/1.1 via ALPN), compat API
// It uses undici's dispatch() with the classic handler callbacks (onConnect/onHeaders/onData/
// onComplete/onError), which undici 7 core calls without a wrapper, and writes straight into the
// raw response. When the client side closes before the response finished, the upstream request is
// aborted (STYLE.md §6: otherwise h2 stream resets can leak pool connections until the proxy hangs).
import https from 'node:https';
import http2 from 'node:http2';
import { Pool } from 'undici';
import { HOP, origin, port, host, ready, tlsOptions } from './common.mjs';

const useHttp2 = process.argv.includes('--http2');
const pool = new Pool(origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });

class Forward {
  constructor(req, res) {
    this.res = res;
    this.abort = null;
    this.done = false;
    res.once('close', () => {
      if (!this.done && this.abort !== null) this.abort(new Error('client closed'));
    });
  }
  onConnect(abort) {
    this.abort = abort;
    if (this.res.destroyed || this.res.closed) abort(new Error('client closed'));
  }
  onHeaders(statusCode, raw, resume) {
    if (statusCode < 200) return true; // 1xx: not relayed
    const headers = {};
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toString('latin1').toLowerCase();
      if (HOP.has(name)) continue;
      const value = raw[i + 1].toString('latin1');
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = [prev, value];
    }
    this.res.writeHead(statusCode, headers);
    this.resume = resume;
    return true;
  }
  onData(chunk) {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.resume);
    return false;
  }
  onComplete() {
    this.done = true;
    this.res.end();
  }
  onError(err) {
    this.done = true;
    const res = this.res;
    if (res.destroyed || res.closed) return;
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`bad gateway: ${err.code ?? err.message}\n`);
    } else {
      res.destroy(err);
    }
  }
}

function handle(req, res) {
  const headers = {};
  const src = req.headers;
  for (const name in src) {
    if (name.charCodeAt(0) === 58 /* ':' */ || HOP.has(name)) continue;
    headers[name] = src[name];
  }
  const method = req.method;
  const hasBody = method !== 'GET' && method !== 'HEAD';
  pool.dispatch({ path: req.url, method, headers, body: hasBody ? req : null }, new Forward(req, res));
}

const server = useHttp2
  ? http2.createSecureServer({ ...tlsOptions(), allowHTTP1: true }, handle)
  : https.createServer({ ...tlsOptions(), keepAliveTimeout: 60_000 }, handle);
server.listen(port, host, () => ready(useHttp2 ? 'undici-forwarder (http2+h1)' : 'undici-forwarder (https h1)'));
