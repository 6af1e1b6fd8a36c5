// node-http-proxy (http-proxy 1.x) over node:https, HTTP/1.1 only, keep-alive agent to the origin.
import http from 'node:http';
import https from 'node:https';
import httpProxy from 'http-proxy';
import { origin, port, host, ready, tlsOptions } from './common.mjs';

const agent = new http.Agent({ keepAlive: true, maxSockets: 128, maxFreeSockets: 128 });
const proxy = httpProxy.createProxyServer({ target: origin, agent, xfwd: false });
proxy.on('error', (err, _req, res) => {
  if (res && 'headersSent' in res && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`bad gateway: ${err.code ?? err.message}\n`);
  } else if (res) {
    res.destroy();
  }
});
const server = https.createServer({ ...tlsOptions(), keepAliveTimeout: 60_000 }, (req, res) => proxy.web(req, res));
server.listen(port, host, () => ready('http-proxy (https h1)'));
