/** Raw TLS sockets for tests that need bytes a well-behaved client would never send. */
import { connect, type TLSSocket } from 'node:tls';

export function rawTls(port: number, ca: string, alpn: string[] = ['http/1.1']): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: alpn });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `text` and collects everything until the server closes the socket (or `timeoutMs`). */
export function exchange(socket: TLSSocket, text: string, timeoutMs = 5000): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => resolve({ data, closed: false }), timeoutMs);
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
    socket.on('error', () => undefined);
    socket.write(text);
  });
}
