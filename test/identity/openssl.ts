/** `openssl s_client` as the independent TLS peer of the identity tests. */
import { spawn } from 'node:child_process';

/** What s_client printed and how it exited. */
export interface SClientResult {
  readonly code: number | null;
  /** stdout and stderr together (s_client splits diagnostics between them). */
  readonly out: string;
}

/**
 * Runs `openssl s_client -connect 127.0.0.1:PORT …args` and writes `input`. With `input` it keeps
 * reading until the server closes (`-ign_eof`: send a request with `connection: close`); without, it
 * ends after the handshake. Bounded by `timeoutMs`; never rejects on a non-zero exit.
 */
export function sClient(port: number, args: string[], input = '', timeoutMs = 10_000): Promise<SClientResult> {
  return new Promise((resolve, reject) => {
    const base = ['s_client', '-connect', `127.0.0.1:${port}`, ...(input === '' ? [] : ['-ign_eof'])];
    const child = spawn('openssl', [...base, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('latin1')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('latin1')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    child.stdin.end(input);
  });
}

/** An HTTP/1.1 request that asks the server to close after answering. */
export function httpGet(path: string, host = 'localhost'): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
}
