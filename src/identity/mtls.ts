/**
 * Client-certificate identity. A TLS connection carries many requests, so what the certificate says
 * (SPIFFE id, hash, serial, expiry) is read once per socket and cached; revocation and expiry are
 * checked on every call, so a `ca revoke` + reload takes effect on kept-alive connections too.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { constants, type Http2ServerRequest } from 'node:http2';
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

/**
 * One trust anchor of client certificates, parsed once at load/reload. An anchor speaks only for its
 * trust domains (SPIFFE trust bundles): a certificate under it whose SPIFFE id is in another trust
 * domain gives no identity. The built-in root (`own`) is the only anchor for the gateway's own trust
 * domain, and the only one the CA's revocation list applies to.
 */
export interface TrustAnchor {
  readonly cert: X509Certificate;
  readonly trustDomains: ReadonlySet<string>;
  readonly own: boolean;
  /** Where it came from, for logs: "built-in root" or "tls.clientCAs[0]". */
  readonly source: string;
}

/** The built-in root as an anchor: the only one for `trustDomain`, and the only one revocation applies to. */
export function builtInAnchor(rootPem: string, trustDomain: string): TrustAnchor {
  return { cert: new X509Certificate(rootPem), trustDomains: new Set([trustDomain]), own: true, source: 'built-in root' };
}

/** Why a verified certificate gave no identity. */
export type RejectionReason = 'trust-domain' | 'no-anchor';

export interface PeerRejection {
  readonly reason: RejectionReason;
  readonly spiffeId: string;
  /** The issuer DN of the leaf, and the anchor it chained to (when found). */
  readonly issuer: string;
  readonly anchor: string | undefined;
}

/** What identity needs to know about anchors and revocation (tls-source assembles it), and optionally the time. */
export interface PeerTrust {
  /** The current anchors (the built-in root first). Read on a socket's first request only. */
  anchors(): readonly TrustAnchor[];
  /** Our CA's revocation list; asked only for certificates that chain to the built-in root. */
  isRevoked(serialHex: string): boolean;
  /** When given, a certificate that expired while its connection stayed open stops counting. */
  now?(): number;
  /** Called once per connection whose certificate was verified but refused an identity. */
  onReject?(rejection: PeerRejection): void;
}

interface PeerEntry {
  /** Undefined: verified, but no workload id (none, several, or refused; see `rejected`). */
  readonly identity: Identity | undefined;
  readonly serial: string;
  readonly notAfterMs: number;
  /** Chains to the built-in root: the revocation list applies. */
  readonly own: boolean;
  readonly rejected: RejectionReason | undefined;
  /** Revoked already when the connection's first request was read (served anonymously, not closed). */
  readonly revokedAtFirst: boolean;
  /** The verdict while the certificate stands (built once per connection, not per request). */
  readonly proven: PeerVerdict | undefined;
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

interface DetailedCert {
  readonly raw?: Buffer;
  readonly issuerCertificate?: DetailedCert;
}

/** The certificates the peer presented (leaf first), as node reports them; node may append the anchor. */
function presentedChain(socket: PeerSocket, leafRaw: Buffer): X509Certificate[] {
  const out: X509Certificate[] = [new X509Certificate(leafRaw)];
  const detailed = socket.getPeerCertificate(true) as DetailedCert;
  const seen = new Set<DetailedCert>([detailed]);
  for (let c = detailed.issuerCertificate; c !== undefined && !seen.has(c) && out.length < 16; c = c.issuerCertificate) {
    seen.add(c);
    if (c.raw !== undefined) out.push(new X509Certificate(c.raw));
  }
  return out;
}

function signs(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * The anchor the leaf chains to: walks up from the leaf through the certificates it presented, each
 * step a verified signature, and stops at the first certificate an anchor signed (or that is an
 * anchor). Node has already verified the chain; this only tells which anchor it ended at.
 */
export function anchorOf(chain: readonly X509Certificate[], anchors: readonly TrustAnchor[]): TrustAnchor | undefined {
  let current = chain[0];
  const used = new Set<X509Certificate>();
  for (let depth = 0; current !== undefined && depth < 16; depth++) {
    const cur: X509Certificate = current;
    used.add(cur);
    const anchor = anchors.find((a) => a.cert.raw.equals(cur.raw) || signs(a.cert, cur));
    if (anchor !== undefined) return anchor;
    current = chain.find((c) => !used.has(c) && signs(c, cur));
  }
  return undefined;
}

function readPeer(socket: PeerSocket, trust: PeerTrust): PeerEntry | null {
  // `authorized` is node's verdict on the chain against the listener's `ca` (built-in root + clientCAs),
  // including expiry; with rejectUnauthorized: false an unverified certificate still arrives here.
  if (socket.authorized !== true) return null;
  const cert = socket.getPeerCertificate(false) as PeerCertificateInfo;
  if (!cert || cert.raw === undefined || cert.serialNumber === undefined) return null;
  let chain: X509Certificate[];
  try {
    chain = presentedChain(socket, cert.raw);
  } catch {
    return null;
  }
  const anchor = anchorOf(chain, trust.anchors());
  const own = anchor?.own === true;
  const parsedNotAfter = cert.valid_to ? Date.parse(cert.valid_to) : Number.NaN;
  const base = {
    serial: cert.serialNumber,
    notAfterMs: Number.isNaN(parsedNotAfter) ? Number.POSITIVE_INFINITY : parsedNotAfter,
    own,
    revokedAtFirst: own && trust.isRevoked(cert.serialNumber),
  };
  const uris = parseSubjectAltName(cert.subjectaltname ?? '').filter((e) => e.kind === 'URI');
  const spiffeId = uris.length === 1 ? (uris[0] as { value: string }).value : undefined;
  const parsed = spiffeId === undefined ? undefined : parseSpiffeId(spiffeId);
  if (spiffeId === undefined || parsed === undefined || parsed.path === '') return { ...base, identity: undefined, rejected: undefined, proven: undefined };
  const reason: RejectionReason | undefined = anchor === undefined ? 'no-anchor' : anchor.trustDomains.has(parsed.trustDomain) ? undefined : 'trust-domain';
  if (reason !== undefined) {
    trust.onReject?.({ reason, spiffeId, issuer: (chain[0] as X509Certificate).issuer.replace(/\n/g, ', '), anchor: anchor?.source });
    return { ...base, identity: undefined, rejected: reason, proven: undefined };
  }
  const identity: Identity = Object.freeze({ spiffeId, certHash: createHash('sha256').update(cert.raw).digest('hex') });
  return { ...base, identity, rejected: undefined, proven: Object.freeze({ identity, revokedSinceOpen: false }) };
}

function entryOf(socket: PeerSocket, trust: PeerTrust): PeerEntry | null {
  let entry = cache.get(socket);
  if (entry === undefined) {
    entry = readPeer(socket, trust);
    cache.set(socket, entry);
  }
  return entry;
}

/** What the socket's client certificate proves now, and whether it was revoked since the connection's first request. */
export interface PeerVerdict {
  readonly identity: Identity;
  /** Our CA revoked the certificate while the connection was open: the caller closes the connection. */
  readonly revokedSinceOpen: boolean;
}

/**
 * The identity proven by the socket's client certificate: only when node verified the chain
 * (`authorized`), the certificate has exactly one URI SAN that is a workload SPIFFE id in a trust
 * domain of the anchor it chains to, it is not revoked (built-in root only) and not expired.
 * Otherwise ANONYMOUS. Per request cost after the first call: a WeakMap lookup, a revocation-set lookup
 * (own certificates only) and a clock read; the verdict object is the connection's, not a new one.
 */
export function peerVerdict(socket: PeerSocket, trust: PeerTrust): PeerVerdict {
  const entry = entryOf(socket, trust);
  if (entry === null || entry.identity === undefined) return NOT_PROVEN;
  if (entry.own && trust.isRevoked(entry.serial)) {
    if (entry.revokedAtFirst) return NOT_PROVEN;
    closing.add(socket);
    return REVOKED_SINCE_OPEN;
  }
  if (trust.now !== undefined && trust.now() > entry.notAfterMs) return NOT_PROVEN;
  return entry.proven ?? NOT_PROVEN;
}

const closing = new WeakSet<object>();

/**
 * Closes the connection of `req` when its socket's certificate was revoked while it was open (seen by
 * `peerVerdict` for this request): an h1 socket is destroyed, an h2 stream is cancelled and its
 * session sent GOAWAY and closed. True when it did; the caller answers nothing more.
 */
export function closeIfRevoked(req: IncomingMessage | Http2ServerRequest, socket: object): boolean {
  if (!closing.has(socket)) return false;
  const stream = (req as Http2ServerRequest).stream as Http2ServerRequest['stream'] | undefined;
  if (stream?.session !== undefined) {
    const session = stream.session;
    stream.close(constants.NGHTTP2_CANCEL);
    session.goaway(constants.NGHTTP2_NO_ERROR);
    session.close();
    session.destroy();
  } else {
    req.socket.destroy();
  }
  return true;
}

const NOT_PROVEN: PeerVerdict = Object.freeze({ identity: ANONYMOUS, revokedSinceOpen: false });
const REVOKED_SINCE_OPEN: PeerVerdict = Object.freeze({ identity: ANONYMOUS, revokedSinceOpen: true });

/** `peerVerdict(...).identity`. */
export function identityFromSocket(socket: PeerSocket, trust: PeerTrust): Identity {
  return peerVerdict(socket, trust).identity;
}

/**
 * True when the socket's client certificate passed node's chain verification but must not be
 * served under `tls.clientAuth: require`: revoked by our CA, expired by `trust.now()` (node checks
 * only the chain and the system clock), or naming a SPIFFE id outside its anchor's trust domains.
 * False for no certificate or an unverified one (node has already refused those under `require`).
 * A verified certificate without a SPIFFE id still passes.
 */
export function verifiedPeerRevoked(socket: PeerSocket, trust: PeerTrust): boolean {
  const entry = entryOf(socket, trust);
  if (entry === null) return false;
  if (entry.rejected !== undefined) return true;
  if (entry.own && trust.isRevoked(entry.serial)) return true;
  return trust.now !== undefined && entry.notAfterMs !== Number.POSITIVE_INFINITY && trust.now() > entry.notAfterMs;
}
