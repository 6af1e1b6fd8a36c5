/**
 * Client-certificate identity. A TLS connection carries many requests, so what the certificate says
 * (SPIFFE id, hash, serial, expiry) is read once per socket and cached; revocation and expiry are
 * checked on every call, so a `ca revoke` + reload takes effect on kept-alive connections too.
 */
import { createHash } from 'node:crypto';
import { ANONYMOUS } from '../core/types.js';
import type { Identity } from '../core/types.js';
import { parseSpiffeId } from './spiffe.js';

/** What node's getPeerCertificate() returns, as far as identity needs it. */
export interface PeerCertificateInfo {
  readonly raw?: Buffer;
  readonly serialNumber?: string;
  readonly subjectaltname?: string;
  readonly valid_to?: string;
}

/**
 * The part of a TLSSocket identity reads: a TLSSocket satisfies it (see tls/peer.ts for finding the
 * socket of an h1 or h2 request). For HTTP/2 pass the session's socket, one per connection.
 */
export interface PeerSocket {
  readonly authorized: boolean;
  getPeerCertificate(detailed?: boolean): PeerCertificateInfo | object;
}

/** What identity needs to know about revocation (the authority satisfies it), and optionally the time. */
export interface PeerTrust {
  isRevoked(serialHex: string): boolean;
  /** When given, a certificate that expired while its connection stayed open stops counting. */
  now?(): number;
}

interface PeerEntry {
  readonly identity: Identity;
  readonly serial: string;
  readonly notAfterMs: number;
}

const cache = new WeakMap<object, PeerEntry | null>();

/**
 * Splits node's `subjectaltname` ("DNS:a, URI:spiffe://td/x, IP Address:1.2.3.4") into entries. Node
 * JSON-quotes values holding a comma or quote, so those are unquoted here; a SPIFFE id never needs it.
 */
export function parseSubjectAltName(text: string): { kind: string; value: string }[] {
  const out: { kind: string; value: string }[] = [];
  const re = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    let value = m[2] as string;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    out.push({ kind: m[1] as string, value });
  }
  return out;
}

function readPeer(socket: PeerSocket): PeerEntry | null {
  // `authorized` is node's verdict on the chain against the listener's `ca` (built-in root + clientCAs),
  // including expiry; with rejectUnauthorized: false an unverified certificate still arrives here.
  if (socket.authorized !== true) return null;
  const cert = socket.getPeerCertificate(false) as PeerCertificateInfo;
  if (!cert || cert.raw === undefined || cert.serialNumber === undefined) return null;
  const uris = parseSubjectAltName(cert.subjectaltname ?? '').filter((e) => e.kind === 'URI');
  if (uris.length !== 1) return null;
  const spiffeId = (uris[0] as { value: string }).value;
  const parsed = parseSpiffeId(spiffeId);
  if (parsed === undefined || parsed.path === '') return null;
  const notAfterMs = cert.valid_to ? Date.parse(cert.valid_to) : Number.POSITIVE_INFINITY;
  return {
    identity: Object.freeze({ spiffeId, certHash: createHash('sha256').update(cert.raw).digest('hex') }),
    serial: cert.serialNumber,
    notAfterMs: Number.isNaN(notAfterMs) ? Number.POSITIVE_INFINITY : notAfterMs,
  };
}

/**
 * The identity proven by the socket's client certificate: only when node verified the chain
 * (`authorized`), the serial is not revoked, and the certificate has exactly one URI SAN that is a
 * workload SPIFFE id. Otherwise ANONYMOUS. Per request cost after the first call: a WeakMap lookup
 * and a revocation-set lookup.
 */
export function identityFromSocket(socket: PeerSocket, trust: PeerTrust): Identity {
  let entry = cache.get(socket);
  if (entry === undefined) {
    entry = readPeer(socket);
    cache.set(socket, entry);
  }
  if (entry === null) return ANONYMOUS;
  if (trust.isRevoked(entry.serial)) return ANONYMOUS;
  if (trust.now !== undefined && trust.now() > entry.notAfterMs) return ANONYMOUS;
  return entry.identity;
}

/**
 * True when the socket's client certificate passed node's chain verification but is revoked, or has
 * expired by `trust.now()`: what `tls.clientAuth: require` refuses on top of node's own checks, which
 * know only the chain and the system clock. False for no certificate or an unverified one (node has
 * already refused those under `require`). Any verified certificate counts, SPIFFE id or not.
 */
export function verifiedPeerRevoked(socket: PeerSocket, trust: PeerTrust): boolean {
  if (socket.authorized !== true) return false;
  const cert = socket.getPeerCertificate(false) as PeerCertificateInfo;
  if (!cert || cert.serialNumber === undefined) return false;
  if (trust.isRevoked(cert.serialNumber)) return true;
  const notAfterMs = cert.valid_to ? Date.parse(cert.valid_to) : Number.NaN;
  return trust.now !== undefined && !Number.isNaN(notAfterMs) && trust.now() > notAfterMs;
}
