import { describe, expect, it } from 'vitest';
import { createServer, type Socket } from 'node:net';
import { connect } from 'node:tls';
import fc from 'fast-check';
import { alpnOf, CLIENT_HELLO_MAX_BYTES } from './client-hello.js';

/** The first bytes node's TLS client sends with these ALPN protocols, captured on a plain socket. */
async function capture(ALPNProtocols: string[] | undefined): Promise<Buffer> {
  let got: Buffer = Buffer.alloc(0);
  const server = createServer();
  const done = new Promise<void>((resolve) => {
    server.on('connection', (s: Socket) => {
      s.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        const r = alpnOf(got);
        if (r !== 'incomplete' || got.length >= CLIENT_HELLO_MAX_BYTES) {
          s.destroy();
          resolve();
        }
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = connect({ host: '127.0.0.1', port, servername: 'shop.example.test', ALPNProtocols });
  client.on('error', () => undefined);
  await done;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return got;
}

describe('alpnOf', () => {
  it('ok/reads the ALPN list of real ClientHellos', async () => {
    expect(alpnOf(await capture(['acme-tls/1']))).toEqual(['acme-tls/1']);
    expect(alpnOf(await capture(['h2', 'http/1.1']))).toEqual(['h2', 'http/1.1']);
    expect(alpnOf(await capture(undefined))).toBeUndefined();
  });

  it('edge/every truncation of a real ClientHello is incomplete', async () => {
    const hello = await capture(['acme-tls/1']);
    for (let n = 0; n < hello.length; n++) expect(alpnOf(hello.subarray(0, n))).toBe('incomplete');
  });

  it('edge/garbage is not a ClientHello', () => {
    expect(alpnOf(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBeUndefined();
    expect(alpnOf(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]))).toBeUndefined();
    expect(alpnOf(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0]))).toBeUndefined();
  });

  it('edge/never throws on fuzzed input, and mutated real hellos stay bounded', async () => {
    const hello = await capture(['acme-tls/1']);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = alpnOf(bytes);
        expect(r === undefined || r === 'incomplete' || Array.isArray(r)).toBe(true);
      }),
      { seed: 8737, numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat(hello.length - 1), fc.integer({ min: 0, max: 255 }), (at, v) => {
        const m = Buffer.from(hello);
        m[at] = v;
        const r = alpnOf(m);
        expect(r === undefined || r === 'incomplete' || Array.isArray(r)).toBe(true);
      }),
      { seed: 8737, numRuns: 2000 },
    );
  });
});
