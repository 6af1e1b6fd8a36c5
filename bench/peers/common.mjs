// Shared settings for the Node bench peers. Everything comes from env vars set by bench/run.sh.
import { readFileSync } from 'node:fs';

function need(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    process.stderr.write(`${name} is not set (peers are started by bench/run.sh)\n`);
    process.exit(2);
  }
  return v;
}

export const port = Number(need('BENCH_PEER_PORT'));
export const origin = need('BENCH_ORIGIN'); // e.g. http://127.0.0.1:29080
export const host = '127.0.0.1';

/** TLS options for a terminating listener; with BENCH_CLIENT_CA the client may present a cert (mTLS scenario). */
export function tlsOptions() {
  const opts = { key: readFileSync(need('BENCH_KEY')), cert: readFileSync(need('BENCH_CERT')) };
  const clientCa = process.env.BENCH_CLIENT_CA;
  if (clientCa) {
    opts.ca = readFileSync(clientCa);
    opts.requestCert = true;
    opts.rejectUnauthorized = false; // "optional", like the gateway's default clientAuth
  }
  return opts;
}

export function ready(name) {
  process.stdout.write(`${name} listening on https://${host}:${port} -> ${origin}\n`);
}

// Hop-by-hop and HTTP/2-forbidden connection headers: never forwarded in either direction.
export const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
