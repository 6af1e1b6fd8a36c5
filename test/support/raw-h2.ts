/**
 * A minimal raw HTTP/2 client for requests a real client library refuses to send (connection-specific
 * headers). HPACK: every field as "literal without indexing, new name", no Huffman.
 */
import { connect, type TLSSocket } from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  if (bytes.length >= 127) throw new Error('raw-h2: header too long for this encoder');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function hpackLiteral(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.flatMap(([n, v]) => [Buffer.from([0x00]), hpackString(n), hpackString(v)]));
}

export interface RawH2Result {
  /** Frame types received for stream 1: 1 = HEADERS, 3 = RST_STREAM. */
  readonly stream1FrameTypes: number[];
  /** RST_STREAM error code for stream 1, when one came. */
  readonly rstCode: number | undefined;
  /** A GOAWAY arrived. */
  readonly goaway: boolean;
}

/** Sends one GET with exactly `fields` (pseudo-headers included) and reports what came back for it. */
export function rawH2Request(port: number, ca: string, fields: [string, string][], timeoutMs = 3000): Promise<RawH2Result> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
    const types: number[] = [];
    let rstCode: number | undefined;
    let goaway = false;
    let buf = Buffer.alloc(0);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ stream1FrameTypes: types, rstCode, goaway });
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('error', reject);
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') return reject(new Error('h2 not negotiated'));
      socket.write(Buffer.concat([PREFACE, frame(0x4, 0, 0, Buffer.alloc(0)), frame(0x1, 0x5 /* END_STREAM|END_HEADERS */, 1, hpackLiteral(fields))]));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3] as number;
        const flags = buf[4] as number;
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 0x4 && (flags & 0x1) === 0) socket.write(frame(0x4, 0x1, 0, Buffer.alloc(0))); // ACK their SETTINGS
        if (type === 0x7) goaway = true;
        if (stream === 1) {
          types.push(type);
          if (type === 0x3) rstCode = payload.readUInt32BE(0);
          if (type === 0x3 || (flags & 0x1) !== 0) return done();
        }
      }
    });
  });
}

/**
 * An HTTP/2 connection that opens no stream and sends a PING every `everyMs` (and ACKs the server's
 * SETTINGS): traffic without work. Resolves once connected; `closed` resolves when the server closes it.
 */
export function rawH2Pinger(port: number, ca: string, everyMs: number): Promise<{ socket: TLSSocket; pings: () => number; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
    let pings = 0;
    let timer: NodeJS.Timeout | undefined;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('close', () => clearInterval(timer));
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      // Good enough for this client: ACK a non-ACK SETTINGS frame at the head of a chunk.
      if (chunk.length >= 9 && chunk[3] === 0x4 && ((chunk[4] as number) & 0x1) === 0) socket.write(frame(0x4, 0x1, 0, Buffer.alloc(0)));
    });
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') return reject(new Error('h2 not negotiated'));
      socket.write(Buffer.concat([PREFACE, frame(0x4, 0, 0, Buffer.alloc(0))]));
      timer = setInterval(() => {
        if (socket.destroyed) return;
        pings++;
        socket.write(frame(0x6, 0, 0, Buffer.alloc(8)));
      }, everyMs);
      resolve({ socket, pings: () => pings, closed });
    });
  });
}
