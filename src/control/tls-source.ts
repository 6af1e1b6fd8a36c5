/**
 * Where the listener's TLS material and the client trust come from: the built-in CA (always
 * trusted for client certificates, and the issuer of the gateway's own serving/workload
 * certificate when `tls.cert` is absent) plus the files the config names. Re-read on reload.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/duration.js';
import type { Identity } from '../core/types.js';
import type { GatewaySpec } from '../spec/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { ListenerTls } from '../server/listener.js';
import { ensureCaAuthority, type Authority } from '../ca/authority.js';
import { caApiPlugin } from '../ca/http.js';
import { splitPem } from '../ca/x509.js';
import { builtInAnchor, identityFromSocket, peerVerdict, verifiedPeerRevoked, type PeerTrust, type TrustAnchor } from '../identity/mtls.js';
import { tlsSocketOf } from '../tls/peer.js';
import { ANONYMOUS } from '../core/types.js';
import { createCertRotation, type CertRotation } from './cert-rotation.js';

export interface CertificateSummary {
  readonly notAfter: string;
}

export interface TlsSource {
  /** The gateway's own SPIFFE id, `spiffe://<td>/tollgate`. */
  readonly gatewayId: string;
  readonly authority: Authority;
  listenerTls(): ListenerTls;
  /** Workload credentials for upstream mTLS, with the roots to verify upstreams against. */
  workloadCredentials(): { certPem: string; keyPem: string; caPem: string } | undefined;
  peerIdentity(socket: TLSSocket): Identity;
  /**
   * With `tls.clientAuth: require`, true when a connection that just finished its handshake must be
   * closed: its verified certificate is revoked or expired by the gateway clock (node checks only the
   * chain and the system clock). Always false with `optional` and `none`, where such a client is served
   * anonymously instead.
   */
  refuses(socket: TLSSocket): boolean;
  caPlugin(): { prefix: string; plugin: FastifyPluginAsync } | undefined;
  /** Called with new listener TLS whenever the serving certificate rotates. */
  onRotate(cb: (tls: ListenerTls) => void): void;
  /** Re-reads certificate files, clientCAs and the revocation list (SIGHUP). Throws when a file is unreadable. */
  reload(spec: GatewaySpec): Promise<void>;
  /**
   * Reads what `reload(spec)` would apply (certificate files, clientCAs) without applying it;
   * throws when a file is unreadable. `apply()` makes it current and re-reads the revocation list.
   */
  prepare(spec: GatewaySpec): Promise<PreparedTls>;
  certificates(): Record<string, CertificateSummary | undefined>;
  close(): void;
}

/** TLS material read for a reload, not yet in force. */
export interface PreparedTls {
  /** The listener TLS the prepared config gives (the rotating certificate as it is now when no files). */
  readonly listenerTls: ListenerTls;
  apply(): Promise<void>;
}

interface FileCreds {
  certPem: string;
  keyPem: string;
  notAfter: string | undefined;
}

async function readCreds(spec: GatewaySpec): Promise<FileCreds | undefined> {
  if (spec.tls.cert === undefined || spec.tls.key === undefined) return undefined;
  const [certPem, keyPem] = await Promise.all([readFile(spec.tls.cert, 'utf8'), readFile(spec.tls.key, 'utf8')]);
  let notAfter: string | undefined;
  try {
    const { X509Certificate } = await import('node:crypto');
    notAfter = new Date(new X509Certificate(certPem).validTo).toISOString();
  } catch {
    throw new Error(`tls.cert: ${spec.tls.cert} is not a PEM certificate`);
  }
  return { certPem, keyPem, notAfter };
}

interface ClientCAs {
  readonly pems: string[];
  readonly anchors: TrustAnchor[];
}

/**
 * Reads `tls.clientCAs` and parses each certificate once into an anchor bound to its declared trust
 * domains (never the gateway's own: that one belongs to the built-in root alone).
 */
async function readClientCAs(spec: GatewaySpec, ownDomain: string): Promise<ClientCAs> {
  const pems = await Promise.all(spec.tls.clientCAs.map((c) => readFile(typeof c === 'string' ? c : c.file, 'utf8')));
  const anchors: TrustAnchor[] = [];
  spec.tls.clientCAs.forEach((c, i) => {
    const domains = new Set(typeof c === 'string' ? [] : c.trustDomains);
    domains.delete(ownDomain);
    const certs = splitPem(pems[i] as string);
    if (certs.length === 0) throw new Error(`tls.clientCAs[${i}]: ${typeof c === 'string' ? c : c.file} holds no PEM certificate`);
    for (const pem of certs) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(pem);
      } catch {
        throw new Error(`tls.clientCAs[${i}]: ${typeof c === 'string' ? c : c.file} is not a PEM certificate`);
      }
      anchors.push({ cert, trustDomains: domains, own: false, source: `tls.clientCAs[${i}]` });
    }
  });
  return { pems, anchors };
}

/** What the issued serving certificate depends on (names and lifetime). */
function rotationPlan(spec: GatewaySpec): string {
  return JSON.stringify([spec.tls.serverNames, spec.ca.workloadTTL]);
}

/** Opens (or on first run creates) the CA and assembles the TLS material. */
export async function createTlsSource(spec: GatewaySpec, deps: { clock: Clock; logger: Logger; metrics: Metrics }): Promise<TlsSource> {
  let current = spec;
  const authority = await ensureCaAuthority(spec.ca.dir, spec.ca.trustDomain, deps.clock);
  const gatewayId = `spiffe://${authority.trustDomain}/tollgate`;
  let files = await readCreds(spec);
  let clientCAs = await readClientCAs(spec, authority.trustDomain);
  const ownAnchor = builtInAnchor(authority.rootPem, authority.trustDomain);
  const listeners: ((tls: ListenerTls) => void)[] = [];

  // Filled in below; listenerTls() may run from the first rotation callback before that.
  const held: { rotation?: CertRotation } = {};
  const listenerTls = (): ListenerTls => {
    const issued = held.rotation?.current();
    const certPem = files?.certPem ?? issued?.chainPem ?? '';
    const keyPem = files?.keyPem ?? issued?.keyPem ?? '';
    return {
      certPem,
      keyPem,
      clientCaPem: [authority.rootPem, ...clientCAs.pems],
      clientAuth: current.tls.clientAuth,
      minVersion: current.tls.minVersion,
    };
  };
  held.rotation = await createCertRotation({
    authority,
    serverNames: spec.tls.serverNames,
    trustDomain: authority.trustDomain,
    ttlMs: durationMs(spec.ca.workloadTTL),
    clock: deps.clock,
    onRotate: (creds) => {
      deps.logger.info({ msg: 'gateway certificate issued', notAfter: creds.notAfter.toISOString() });
      if (files === undefined) for (const cb of listeners) cb(listenerTls());
    },
  });

  const trust: PeerTrust = {
    anchors: () => [ownAnchor, ...clientCAs.anchors],
    isRevoked: (serial: string) => authority.isRevoked(serial),
    now: () => deps.clock.now(),
    onReject: (r) => {
      deps.metrics.identityRejections.inc({ reason: r.reason });
      deps.logger.warn({ msg: 'client certificate refused an identity', reason: r.reason, spiffeId: r.spiffeId, issuer: r.issuer, anchor: r.anchor });
    },
  };
  // A certificate our CA revoked while its connection stayed open: the pipeline closes the connection
  // at its next request (closeIfRevoked), never serving it anonymously.
  const peerIdentity = (socket: TLSSocket): Identity => {
    const verdict = peerVerdict(socket, trust);
    if (verdict.revokedSinceOpen) {
      deps.metrics.identityRejections.inc({ reason: 'revoked-open' });
      deps.logger.warn({ msg: 'client certificate revoked while connected; closing the connection', reason: 'revoked-open' });
    }
    return verdict.identity;
  };
  const api = spec.ca.api;
  const source: TlsSource = {
    gatewayId,
    authority,
    listenerTls,
    workloadCredentials: () => {
      const c = held.rotation?.current();
      return c ? { certPem: c.chainPem, keyPem: c.keyPem, caPem: authority.rootPem } : undefined;
    },
    peerIdentity,
    refuses: (socket) => current.tls.clientAuth === 'require' && verifiedPeerRevoked(socket, trust),
    caPlugin: () =>
      api.enabled
        ? {
            prefix: api.pathPrefix,
            plugin: caApiPlugin({
              authority,
              pathPrefix: api.pathPrefix,
              trustDomain: authority.trustDomain,
              // Read per request, so a reload changes them.
              get maxTTLMs() {
                return durationMs(current.ca.maxTTL);
              },
              get defaultTTLMs() {
                return durationMs(current.ca.workloadTTL);
              },
              clock: deps.clock,
              peerIdentity: (req) => {
                const socket = tlsSocketOf(req.raw);
                return socket === undefined ? ANONYMOUS : identityFromSocket(socket, trust);
              },
              onIssued: () => deps.metrics.caIssued.inc(),
              renewal: spec.ca.renewal,
              onRequest: (r) => deps.logger.info({ msg: 'request', ...r, route: 'ca', upstream: null, target: null, attempts: 0, bytes: 0 }),
              onFailure: (err, requestId) => deps.logger.error({ msg: 'CA API failure', requestId, err: err instanceof Error ? { type: err.name, message: err.message, stack: err.stack } : String(err) }),
            }),
          }
        : undefined,
    onRotate: (cb) => listeners.push(cb),
    prepare: async (next) => {
      const [nextFiles, nextCAs] = await Promise.all([readCreds(next), readClientCAs(next, authority.trustDomain)]);
      // New names or lifetime for the issued serving certificate: a new one at apply, renewed on the new plan.
      const replan = rotationPlan(current) !== rotationPlan(next);
      return {
        // A getter: after apply() it shows the certificate a replan issued.
        get listenerTls() {
          const issued = held.rotation?.current();
          return {
            certPem: nextFiles?.certPem ?? issued?.chainPem ?? '',
            keyPem: nextFiles?.keyPem ?? issued?.keyPem ?? '',
            clientCaPem: [authority.rootPem, ...nextCAs.pems],
            clientAuth: next.tls.clientAuth,
            minVersion: next.tls.minVersion,
          };
        },
        apply: async () => {
          // The revocation list first: when it can't be read, nothing of the new material is in force.
          await authority.reloadState();
          if (replan) {
            await held.rotation?.replan(next.tls.serverNames, durationMs(next.ca.workloadTTL));
            deps.logger.info({ msg: 'gateway certificate re-issued for the reloaded config', serverNames: next.tls.serverNames, notAfter: held.rotation?.current().notAfter.toISOString() });
          }
          files = nextFiles;
          clientCAs = nextCAs;
          current = next;
        },
      };
    },
    certificates: () => {
      const issued = held.rotation?.current();
      const serving = files?.notAfter ?? issued?.notAfter.toISOString();
      return {
        serving: serving ? { notAfter: serving } : undefined,
        workload: issued ? { notAfter: issued.notAfter.toISOString() } : undefined,
        intermediate: { notAfter: authority.intermediateNotAfter.toISOString() },
        root: { notAfter: authority.rootNotAfter.toISOString() },
      };
    },
    close: () => held.rotation?.close(),
    reload: async (next) => {
      await (await source.prepare(next)).apply();
    },
  };
  return source;
}
