/**
 * Where the listener's TLS material and the client trust come from: the built-in CA (always
 * trusted for client certificates, and the issuer of the gateway's own serving/workload
 * certificate when `tls.cert` is absent) plus the files the config names. Re-read on reload.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/duration.js';
import type { Identity } from '../core/types.js';
import type { GatewaySpec } from '../spec/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { ListenerTls } from '../server/listener.js';
import { certificateNames } from '../tls/sni.js';
import { ensureCaAuthority, type Authority } from '../ca/authority.js';
import { caApiPlugin } from '../ca/http.js';
import { splitPem } from '../ca/x509.js';
import { builtInAnchor, identityFromSocket, peerVerdict, verifiedPeerRevoked, type PeerTrust, type TrustAnchor } from '../identity/mtls.js';
import { tlsSocketOf } from '../tls/peer.js';
import { ANONYMOUS } from '../core/types.js';
import { createCertRotation, type CertRotation } from './cert-rotation.js';
import { watchCertFiles, type CertWatch } from './cert-watch.js';
import { createAcmeManager, type AcmeManager } from './acme.js';
import type { Scheduler } from '../core/scheduler.js';
import { caStatePlan, createCaStateFor } from './ca-state.js';

export interface CertificateSummary {
  readonly notAfter: string;
  /** The names an SNI certificate serves (`tls.certificates`). */
  readonly serverNames?: readonly string[];
  /** The file it was read from. */
  readonly file?: string;
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
  /** The http-01 key authorization for `token` while `tls.acme` validates it, else undefined. */
  acmeChallenge(token: string): string | undefined;
  /** The ACME manager when `tls.acme` is set (tests wait on `ready`). */
  readonly acme: AcmeManager | undefined;
  /** Called with new listener TLS whenever the serving certificate rotates. */
  onRotate(cb: (tls: ListenerTls) => void): void;
  /**
   * Re-reads certificate files, clientCAs and the revocation list (SIGHUP). Throws when a file is unreadable.
   * Between reloads the serving certificate files (`tls.cert`/`key`, `tls.certificates`) are also
   * watched: a changed pair that reads and fits is put in force through `onRotate`; one that doesn't is
   * logged and the certificates in force stay.
   */
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
    notAfter = new Date(new X509Certificate(certPem).validTo).toISOString();
  } catch {
    throw new Error(`tls.cert: ${spec.tls.cert} is not a PEM certificate`);
  }
  checkKeyFits('tls', spec.tls.cert, certPem, spec.tls.key, keyPem);
  return { certPem, keyPem, notAfter };
}

/** Throws (naming both files) when `keyPem` is not the key of `certPem`: caught at prepare, never at commit. */
function checkKeyFits(where: string, certFile: string, certPem: string, keyFile: string, keyPem: string): void {
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    throw new Error(`${where}: ${keyFile} is not a usable key for ${certFile} (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** One `tls.certificates` entry as read from its files. */
interface ServingFile {
  readonly certPem: string;
  readonly keyPem: string;
  readonly names: readonly string[];
  readonly notAfter: string;
  readonly certFile: string;
}

/** Reads every `tls.certificates` entry; throws (naming the entry) when one can't serve. */
async function readServingCertificates(spec: GatewaySpec): Promise<ServingFile[]> {
  return Promise.all(
    spec.tls.certificates.map(async (c, i): Promise<ServingFile> => {
      const where = `tls.certificates[${i}]`;
      const [certPem, keyPem] = await Promise.all([readFile(c.cert, 'utf8'), readFile(c.key, 'utf8')]);
      let leaf: X509Certificate;
      try {
        leaf = new X509Certificate(certPem);
      } catch {
        throw new Error(`${where}.cert: ${c.cert} is not a PEM certificate`);
      }
      const names = c.serverNames ?? certificateNames(leaf.subjectAltName, leaf.subject);
      if (names.length === 0) throw new Error(`${where}: ${c.cert} names no DNS name or IP address; set serverNames`);
      checkKeyFits(where, c.cert, certPem, c.key, keyPem);
      return { certPem, keyPem, names, notAfter: new Date(leaf.validTo).toISOString(), certFile: c.cert };
    }),
  );
}

function watchedFiles(spec: GatewaySpec): string[] {
  const out = spec.tls.certificates.flatMap((c) => [c.cert, c.key]);
  if (spec.tls.cert !== undefined && spec.tls.key !== undefined) out.push(spec.tls.cert, spec.tls.key);
  return out;
}

function sameServing(a: readonly ServingFile[], b: readonly ServingFile[]): boolean {
  return a.length === b.length && a.every((x, i) => x.certPem === b[i]?.certPem && x.keyPem === b[i]?.keyPem && x.names.join() === b[i]?.names.join());
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
export async function createTlsSource(spec: GatewaySpec, deps: { clock: Clock; logger: Logger; metrics: Metrics; acmeScheduler?: Scheduler }): Promise<TlsSource> {
  let current = spec;
  // The CA state (tokens, index, revocations) in Redis with `store.type: redis`, else the CA directory's files.
  const state = createCaStateFor(spec, deps);
  const statePlan = caStatePlan(spec);
  const authority = await ensureCaAuthority(spec.ca.dir, spec.ca.trustDomain, deps.clock, state).catch(async (err: unknown) => {
    await state?.close();
    throw err;
  });
  const gatewayId = `spiffe://${authority.trustDomain}/tollgate`;
  let files = await readCreds(spec);
  let serving = await readServingCertificates(spec);
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
      sni: sniOf(serving),
    };
  };
  // ACME certificates come after the files: a name both list is served from the file.
  const sniOf = (files: readonly ServingFile[]): ListenerTls['sni'] => {
    const issued = acme?.current();
    return [
      ...files.map((c) => ({ certPem: c.certPem, keyPem: c.keyPem, names: c.names })),
      ...(issued ? [{ certPem: issued.certPem, keyPem: issued.keyPem, names: issued.names }] : []),
    ];
  };
  const acme: AcmeManager | undefined =
    spec.tls.acme === undefined
      ? undefined
      : createAcmeManager({
          spec: spec.tls.acme,
          clock: deps.clock,
          logger: deps.logger,
          scheduler: deps.acmeScheduler,
          onCertificate: () => {
            for (const cb of listeners) cb(listenerTls());
          },
        });
  // File changes between reloads: re-read what the config in force names; a reload that lands
  // meanwhile wins (its spec is newer than the one this read started from).
  let watch: CertWatch | undefined;
  const refreshFromFiles = async (): Promise<void> => {
    const spec = current;
    let nextFiles: FileCreds | undefined;
    let nextServing: ServingFile[];
    try {
      [nextFiles, nextServing] = await Promise.all([readCreds(spec), readServingCertificates(spec)]);
    } catch (err) {
      deps.logger.warn({ msg: 'certificate files changed but cannot be used; the certificates in force stay', err: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (spec !== current) return;
    const filesSame = nextFiles?.certPem === files?.certPem && nextFiles?.keyPem === files?.keyPem;
    if (filesSame && sameServing(nextServing, serving)) return;
    files = nextFiles;
    serving = nextServing;
    deps.logger.info({ msg: 'serving certificates re-read from their files', certificates: serving.map((c) => ({ serverNames: c.names, notAfter: c.notAfter })) });
    for (const cb of listeners) cb(listenerTls());
  };
  const rewatch = (): void => {
    watch?.close();
    watch = watchCertFiles(watchedFiles(current), () => void refreshFromFiles(), {
      onError: (dir, err) => deps.logger.warn({ msg: 'cannot watch certificate directory; SIGHUP still reloads it', dir, err: String(err) }),
    });
  };
  rewatch();
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
      const [nextFiles, nextServing, nextCAs] = await Promise.all([readCreds(next), readServingCertificates(next), readClientCAs(next, authority.trustDomain)]);
      const acmeAtPrepare = acme?.current();
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
            sni: sniOf(nextServing),
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
          serving = nextServing;
          clientCAs = nextCAs;
          if (caStatePlan(next) !== caStatePlan(current) && caStatePlan(next) !== statePlan) {
            deps.logger.warn({ msg: 'store changed; the CA state stays where it was at start until the next start', caState: authority.stateKind });
          }
          if (JSON.stringify(next.tls.acme) !== JSON.stringify(current.tls.acme)) {
            deps.logger.warn({ msg: 'tls.acme changed; the change takes effect at the next start' });
          }
          current = next;
          rewatch();
          // An ACME renewal between prepare and commit: the prepared TLS holds the old certificate, so
          // put the new one back once the commit (which applies the prepared TLS) has run.
          if (acme !== undefined && acme.current() !== acmeAtPrepare) {
            setImmediate(() => {
              for (const cb of listeners) cb(listenerTls());
            });
          }
        },
      };
    },
    certificates: () => {
      const issued = held.rotation?.current();
      const fallback = files?.notAfter ?? issued?.notAfter.toISOString();
      const out: Record<string, CertificateSummary | undefined> = {
        serving: fallback ? { notAfter: fallback } : undefined,
        workload: issued ? { notAfter: issued.notAfter.toISOString() } : undefined,
        intermediate: { notAfter: authority.intermediateNotAfter.toISOString() },
        root: { notAfter: authority.rootNotAfter.toISOString() },
      };
      // One entry per SNI certificate, keyed by its first name (the metric's `cert` label).
      for (const c of serving) {
        let key = `sni:${c.names[0] ?? ''}`;
        for (let n = 2; key in out; n++) key = `sni:${c.names[0] ?? ''}#${n}`;
        out[key] = { notAfter: c.notAfter, serverNames: c.names, file: c.certFile };
      }
      const issuedAcme = acme?.current();
      if (issuedAcme) out[`acme:${issuedAcme.names[0] ?? ''}`] = { notAfter: issuedAcme.notAfter.toISOString(), serverNames: issuedAcme.names };
      return out;
    },
    acmeChallenge: (token) => acme?.challengeAnswer(token),
    acme,
    close: () => {
      acme?.close();
      watch?.close();
      held.rotation?.close();
      void authority.close();
    },
    reload: async (next) => {
      await (await source.prepare(next)).apply();
    },
  };
  return source;
}
