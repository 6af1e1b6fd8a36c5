// Opens N TLS connections to a loopback URL, sends one GET on each (HTTP/1.1 keep-alive, or one
// HTTP/2 session with one stream), checks the 200, and keeps them open and idle until SIGTERM or
// --hold seconds. Prints "BENCH_IDLE open=N" once all are established and answered.
//   node bench/lib/idle-conns.mjs --url https://127.0.0.1:PORT/bench --count 10000 [--h2] [--hold 120]
import { connect as tlsConnect } from 'node:tls';
import { connect as h2Connect } from 'node:http2';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string' },
    count: { type: 'string', default: '10000' },
    h2: { type: 'boolean', default: false },
    hold: { type: 'string', default: '120' },
    batch: { type: 'string', default: '100' },
  },
});
const url = new URL(o.url);
if (url.hostname !== '127.0.0.1') {
  process.stderr.write('idle-conns.mjs only targets 127.0.0.1\n');
  process.exit(2);
}
const port = Number(url.port);
const count = Number(o.count);
const held = [];

function openH1() {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    let got = '';
    s.setEncoding('latin1');
    s.once('secureConnect', () => s.write(`GET ${url.pathname} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`));
    const onData = (d) => {
      got += d;
      const end = got.indexOf('\r\n\r\n');
      if (end === -1) return;
      const len = Number(/content-length: *(\d+)/i.exec(got.slice(0, end))?.[1] ?? 0);
      if (got.length < end + 4 + len) return;
      s.off('data', onData);
      if (!got.startsWith('HTTP/1.1 200')) reject(new Error(`status: ${got.slice(0, 40)}`));
      else resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed')));
  });
}

function openH2() {
  return new Promise((resolve, reject) => {
    const session = h2Connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.once('error', reject);
    const req = session.request({ ':path': url.pathname });
    req.on('response', (h) => {
      if (h[':status'] !== 200) reject(new Error(`status ${h[':status']}`));
    });
    req.resume();
    req.on('end', () => resolve(session));
    req.once('error', reject);
  });
}

const open = o.h2 ? openH2 : openH1;
const batch = Number(o.batch);
const t0 = Date.now();
for (let i = 0; i < count; i += batch) {
  const n = Math.min(batch, count - i);
  const got = await Promise.all(Array.from({ length: n }, open));
  held.push(...got);
  if (Date.now() - t0 > 300_000) {
    process.stderr.write('idle-conns: took over 300 s\n');
    process.exit(1);
  }
}
for (const c of held) c.on('close', () => process.stderr.write('idle-conns: a held connection closed\n'));
process.stdout.write(`BENCH_IDLE open=${held.length} in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
setTimeout(stop, Number(o.hold) * 1000);
