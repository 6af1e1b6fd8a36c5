/**
 * The built-in CA: a root (ECDSA P-256, 10 years) that signs an intermediate (1 year, pathLen 0),
 * which signs workload leaves. Everything lives in one directory:
 *
 *   root.crt root.key intermediate.crt intermediate.key provisioner.key   (keys 0600)
 *   ca.json (trust domain; written last, marks a complete CA)
 *   issued.json revoked.json tokens.json      (state, atomic writes: the file CaStateStore, the default)
 *
 * The state (used tokens, issued index, revocation list) lives behind a CaStateStore (state.ts): the
 * files above, or Redis shared by replicas (redis-state.ts), as the caller chooses. Key and
 * intermediate changes happen under the directory lock with a fresh read from disk, so the gateway,
 * its workers and `tollgate ca …` commands can share the directory.
 */
import { promises as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { isTrustDomain, parseWorkloadId } from '../identity/spiffe.js';
import { parseCsr } from './requests.js';
import { isEmptyDir, PRIVATE_MODE, PUBLIC_MODE, withDirLock, writeFileAtomic, writeJsonFile } from './store.js';
import { FileCaState, initFileState, STATE_FILES } from './file-state.js';
import { CaError } from './state.js';
import type { CaStateStore, IssuedRecord, RevokedRecord, SpentToken } from './state.js';
import { createToken, loadProvisioner, verifyToken } from './tokens.js';
import type { IssuedToken, Provisioner, TokenClaims } from './tokens.js';
import {
  canonicalSerial,
  certificateHash,
  certificatePem,
  createIntermediateCertificate,
  createLeafCertificate,
  createRootCertificate,
  generateKeyPair,
  importPrivateKeyPem,
  invalidDnsNames,
  invalidIps,
  parseCertificate,
  privateKeyToPem,
  publicKeyDerOf,
  randomSerial,
  serialOf,
  x509,
} from './x509.js';

const DAY_MS = 86_400_000;
/** Lifetime of the root. */
export const ROOT_TTL_MS = 3652 * DAY_MS;
/** Lifetime of a signing intermediate. */
export const INTERMEDIATE_TTL_MS = 365 * DAY_MS;
/** A new intermediate is made once the current one has less than this left (or less than a leaf's ttl). */
export const INTERMEDIATE_RENEW_BEFORE_MS = 60 * DAY_MS;
/** notBefore is set this far in the past, for peers whose clocks run a little behind. */
export const BACKDATE_MS = 60_000;

/** File names inside the CA directory. */
export const CA_FILES = Object.freeze({
  rootCert: 'root.crt',
  rootKey: 'root.key',
  intermediateCert: 'intermediate.crt',
  intermediateKey: 'intermediate.key',
  provisionerKey: 'provisioner.key',
  meta: 'ca.json',
  ...STATE_FILES,
});

export { CaError } from './state.js';
export type { CaErrorCode, CaStateStore, IssuedRecord, RevokedRecord } from './state.js';

/** An issued-index entry with its revocation state, for `ca list`. */
export interface ListedCertificate extends IssuedRecord {
  readonly revoked: boolean;
}

/** What to certify. Give `publicKey` (SPKI DER or a CryptoKey) or `csrPem` (its URI SAN must equal `id`). */
export interface IssueRequest {
  readonly id: string;
  readonly dns?: readonly string[];
  readonly ip?: readonly string[];
  readonly ttlMs: number;
  readonly publicKey?: x509.PublicKeyType;
  readonly csrPem?: string;
  /** A bootstrap token to spend with the issue, atomically: TOKEN_REUSED (nothing issued) when it was spent. */
  readonly token?: SpentToken;
  /**
   * The gateway's own certificate: when the state store can't be reached (CA_UNAVAILABLE), the
   * certificate is still returned, unrecorded (`indexed: false`), so a replica starts during a Redis outage.
   */
  readonly indexOptional?: boolean;
}

/** A freshly signed leaf. */
export interface IssuedCertificate {
  /** The leaf alone, PEM. */
  readonly certPem: string;
  /** The leaf followed by the intermediate, PEM: what a workload presents. */
  readonly chainPem: string;
  readonly serial: string;
  readonly spiffeId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly certHash: string;
  /** False when it could not be recorded in the issued index (only with `indexOptional`). */
  readonly indexed: boolean;
}

/** Result of `revoke`. */
export interface RevokeResult {
  readonly serial: string;
  readonly alreadyRevoked: boolean;
  /** False when the serial is not in the issued index (it is revoked all the same). */
  readonly known: boolean;
}

/** An open CA. */
export interface Authority {
  readonly dir: string;
  readonly trustDomain: string;
  readonly rootPem: string;
  /** Where the state lives: 'file' (this CA directory) or 'redis' (shared by replicas). */
  readonly stateKind: CaStateStore['kind'];
  /** The current signing intermediate, PEM (changes when it is renewed). */
  readonly intermediatePem: string;
  readonly rootNotAfter: Date;
  readonly intermediateNotAfter: Date;
  /** Signs a leaf for a workload and records it in the issued index. */
  issue(req: IssueRequest): Promise<IssuedCertificate>;
  /** Adds a serial (any accepted form) to the revocation list. */
  revoke(serial: string, reason?: string): Promise<RevokeResult>;
  /** Revokes every unexpired certificate of the issued index naming `spiffeId`. */
  revokeIdentity(spiffeId: string, reason?: string): Promise<RevokeResult[]>;
  /** True when the serial (any case, colons allowed) is on the revocation list as last loaded. Hot path. */
  isRevoked(serialHex: string): boolean;
  /** The revocation list as last loaded. */
  revocations(): readonly RevokedRecord[];
  /** The issued index as on disk now, with revocation state. */
  list(): Promise<ListedCertificate[]>;
  /** An issued-index entry by certificate hash; re-reads the index once on a miss. */
  findIssuedByHash(certHash: string): Promise<IssuedRecord | undefined>;
  /** Makes a one-time bootstrap token for a workload id in this trust domain. */
  createToken(spiffeId: string, ttlMs: number): Promise<IssuedToken>;
  /** Verifies a bootstrap token (not its single use); throws GatewayError('UNAUTHENTICATED'). */
  verifyToken(token: string): Promise<TokenClaims>;
  /** Records a token id as used; throws GatewayError('TOKEN_REUSED') when it already was, in any process. */
  consumeToken(jti: string, expMs: number): Promise<void>;
  /**
   * Re-reads the revocation list (and the file index) and the current intermediate. A shared state
   * that can't be reached keeps the list as last read (it is refreshed again when it answers).
   */
  reloadState(): Promise<void>;
  /** Closes the state store's connections. */
  close(): Promise<void>;
}

interface Meta {
  version: 1;
  trustDomain: string;
  createdAt: string;
}

/** Options of initAuthority. */
export interface InitOptions {
  readonly trustDomain: string;
  readonly clock: Clock;
  /** Where the state lives (default: the CA directory's files). */
  readonly state?: CaStateStore;
}

/**
 * Creates a CA in `dir` (made if missing). Refuses (CaError 'EXISTS') unless the directory is empty;
 * "empty" includes "does not exist" and ignores dotfiles.
 */
export async function initAuthority(dir: string, opts: InitOptions): Promise<Authority> {
  const root = resolve(dir);
  if (!isTrustDomain(opts.trustDomain)) throw new CaError('INVALID', `"${opts.trustDomain}" is not a valid trust domain.`);
  // Parents get the default mode; the CA directory itself is private.
  await fs.mkdir(dirname(root), { recursive: true });
  await fs.mkdir(root, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  await withDirLock(root, async () => {
    if (!(await isEmptyDir(root))) throw new CaError('EXISTS', `${dir} is not empty; refusing to overwrite an existing CA.`);
    const now = opts.clock.now();
    const rootKeys = await generateKeyPair();
    const rootCert = await createRootCertificate({
      keys: rootKeys,
      trustDomain: opts.trustDomain,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + ROOT_TTL_MS),
    });
    const inter = await makeIntermediate(rootCert, rootKeys.privateKey, opts.trustDomain, now);
    const provisioner = await generateKeyPair();
    await writeFileAtomic(join(root, CA_FILES.rootKey), await privateKeyToPem(rootKeys.privateKey), PRIVATE_MODE);
    await writeFileAtomic(join(root, CA_FILES.rootCert), certificatePem(rootCert), PUBLIC_MODE);
    await writeFileAtomic(join(root, CA_FILES.intermediateKey), inter.keyPem, PRIVATE_MODE);
    await writeFileAtomic(join(root, CA_FILES.intermediateCert), inter.certPem, PUBLIC_MODE);
    await writeFileAtomic(join(root, CA_FILES.provisionerKey), await privateKeyToPem(provisioner.privateKey), PRIVATE_MODE);
    await initFileState(root);
    const meta: Meta = { version: 1, trustDomain: opts.trustDomain, createdAt: new Date(now).toISOString() };
    await writeJsonFile(join(root, CA_FILES.meta), meta);
  });
  return openAuthority(dir, opts);
}

async function makeIntermediate(
  rootCert: x509.X509Certificate,
  rootKey: CryptoKey,
  trustDomain: string,
  now: number,
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const cert = await createIntermediateCertificate({
    issuer: rootCert,
    issuerKey: rootKey,
    publicKey: keys.publicKey,
    trustDomain,
    // Never outlive the root: a chain is only as valid as its shortest link.
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(now + INTERMEDIATE_TTL_MS, rootCert.notAfter.getTime())),
  });
  return { certPem: certificatePem(cert), keyPem: await privateKeyToPem(keys.privateKey) };
}

/** Options of openAuthority. */
export interface OpenOptions {
  /** When given, must equal the CA's trust domain (CaError 'MISMATCH'). */
  readonly trustDomain?: string;
  readonly clock: Clock;
  /** Where the state lives (default: the CA directory's files). Opened here once the CA is. */
  readonly state?: CaStateStore;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (err) {
    throw new CaError('INVALID', `The CA is incomplete: cannot read ${what} (${path}).`, { cause: err });
  }
}

/** Opens an existing CA. CaError 'NOT_FOUND' when there is none, 'INVALID' when it is incomplete or damaged. */
export async function openAuthority(dir: string, opts: OpenOptions): Promise<Authority> {
  const root = resolve(dir);
  let meta: Meta;
  try {
    meta = JSON.parse(await fs.readFile(join(root, CA_FILES.meta), 'utf8')) as Meta;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (await isEmptyDir(root)) throw new CaError('NOT_FOUND', `There is no CA in ${dir}; create one with "tollgate ca init".`);
      throw new CaError('INVALID', `${dir} holds files but no complete CA (${CA_FILES.meta} is missing).`, { cause: err });
    }
    throw new CaError('INVALID', `Cannot read ${join(dir, CA_FILES.meta)}.`, { cause: err });
  }
  if (!meta || typeof meta.trustDomain !== 'string' || !isTrustDomain(meta.trustDomain)) {
    throw new CaError('INVALID', `${join(dir, CA_FILES.meta)} names no valid trust domain.`);
  }
  if (opts.trustDomain !== undefined && opts.trustDomain !== meta.trustDomain) {
    throw new CaError('MISMATCH', `The CA in ${dir} is for trust domain ${meta.trustDomain}, not ${opts.trustDomain}.`);
  }
  const rootPem = await readText(join(root, CA_FILES.rootCert), 'the root certificate');
  const provisionerPem = await readText(join(root, CA_FILES.provisionerKey), 'the provisioner key');
  let rootCert: x509.X509Certificate;
  let provisioner: Provisioner;
  try {
    rootCert = parseCertificate(rootPem);
    provisioner = await loadProvisioner(provisionerPem);
  } catch (err) {
    throw new CaError('INVALID', `The CA in ${dir} is damaged: ${(err as Error).message}.`, { cause: err });
  }
  const state = opts.state ?? new FileCaState(root);
  await state.open();
  const ca = new FileAuthority(root, meta.trustDomain, opts.clock, rootPem, rootCert, provisioner, state);
  await ca.reloadState();
  return ca;
}

class FileAuthority implements Authority {
  readonly dir: string;
  readonly trustDomain: string;
  readonly rootPem: string;
  readonly #clock: Clock;
  readonly #rootCert: x509.X509Certificate;
  readonly #provisioner: Provisioner;
  readonly #state: CaStateStore;
  #intermediate!: { cert: x509.X509Certificate; pem: string; key: CryptoKey };

  constructor(dir: string, trustDomain: string, clock: Clock, rootPem: string, rootCert: x509.X509Certificate, provisioner: Provisioner, state: CaStateStore) {
    this.dir = dir;
    this.trustDomain = trustDomain;
    this.#clock = clock;
    this.rootPem = rootPem;
    this.#rootCert = rootCert;
    this.#provisioner = provisioner;
    this.#state = state;
  }

  get stateKind(): CaStateStore['kind'] {
    return this.#state.kind;
  }

  get intermediatePem(): string {
    return this.#intermediate.pem;
  }
  get rootNotAfter(): Date {
    return this.#rootCert.notAfter;
  }
  get intermediateNotAfter(): Date {
    return this.#intermediate.cert.notAfter;
  }

  /** Reads the intermediate pair. Callers hold the directory lock: the pair is two files, renamed one by one. */
  async loadIntermediate(): Promise<void> {
    const pem = await readText(join(this.dir, CA_FILES.intermediateCert), 'the intermediate certificate');
    const keyPem = await readText(join(this.dir, CA_FILES.intermediateKey), 'the intermediate key');
    try {
      const cert = parseCertificate(pem);
      const key = await importPrivateKeyPem(keyPem);
      if (!publicKeyDerOf(keyPem).equals(Buffer.from(cert.publicKey.rawData))) {
        throw new Error('intermediate.key does not belong to intermediate.crt');
      }
      if (!(await cert.verify({ publicKey: this.#rootCert.publicKey, signatureOnly: true }))) {
        throw new Error('the intermediate is not signed by the root');
      }
      this.#intermediate = { cert, pem, key };
    } catch (err) {
      throw new CaError('INVALID', `The CA in ${this.dir} is damaged: ${(err as Error).message}.`, { cause: err });
    }
  }

  async #readRootKey(): Promise<CryptoKey> {
    return importPrivateKeyPem(await readText(join(this.dir, CA_FILES.rootKey), 'the root key'));
  }

  /** Makes sure the intermediate outlives a leaf of `ttlMs`; renews it (under the lock) when not. */
  async #ensureIntermediate(ttlMs: number): Promise<void> {
    const needed = Math.max(INTERMEDIATE_RENEW_BEFORE_MS, ttlMs + DAY_MS);
    if (this.#intermediate.cert.notAfter.getTime() - this.#clock.now() >= needed) return;
    await withDirLock(this.dir, async () => {
      // Another process may have renewed it already.
      await this.loadIntermediate();
      const now = this.#clock.now();
      if (this.#intermediate.cert.notAfter.getTime() - now >= needed) return;
      const fresh = await makeIntermediate(this.#rootCert, await this.#readRootKey(), this.trustDomain, now);
      if (parseCertificate(fresh.certPem).notAfter.getTime() - now < ttlMs) {
        throw new CaError('INVALID', 'The requested lifetime exceeds what the CA can sign (the root expires first or the ttl is over a year).');
      }
      await writeFileAtomic(join(this.dir, CA_FILES.intermediateKey), fresh.keyPem, PRIVATE_MODE);
      await writeFileAtomic(join(this.dir, CA_FILES.intermediateCert), fresh.certPem, PUBLIC_MODE);
      await this.loadIntermediate();
    });
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const id = parseWorkloadId(req.id, this.trustDomain);
    if (id === undefined) throw new CaError('INVALID', `"${req.id}" is not a workload SPIFFE id in trust domain ${this.trustDomain}.`);
    const dns = [...(req.dns ?? [])];
    const ip = [...(req.ip ?? [])];
    const badNames = [...invalidDnsNames(dns), ...invalidIps(ip)];
    if (badNames.length > 0) throw new CaError('INVALID', `Not a valid DNS name or IP address: ${badNames.join(', ')}.`);
    if (!Number.isFinite(req.ttlMs) || req.ttlMs <= 0) throw new CaError('INVALID', 'The certificate lifetime must be positive.');
    let publicKey = req.publicKey;
    if (req.csrPem !== undefined) {
      const csr = await parseCsr(req.csrPem, this.trustDomain);
      if (csr.spiffeId !== req.id) throw new GatewayError('FORBIDDEN', `The CSR names ${csr.spiffeId}, not ${req.id}`);
      publicKey = csr.publicKeyDer;
    }
    if (publicKey === undefined) throw new CaError('INVALID', 'issue() needs a public key or a CSR.');
    // A spent token is refused before anything is signed; the atomic check is at recording below.
    if (req.token !== undefined && (await this.#state.tokenUsed(req.token.jti))) {
      throw new GatewayError('TOKEN_REUSED', 'This token has already been used');
    }
    await this.#ensureIntermediate(req.ttlMs);
    const now = this.#clock.now();
    const inter = this.#intermediate;
    const cert = await createLeafCertificate({
      issuer: inter.cert,
      issuerKey: inter.key,
      publicKey,
      serial: randomSerial(),
      spiffeId: req.id,
      dns,
      ip,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + req.ttlMs),
    });
    const record: IssuedRecord = {
      serial: serialOf(cert),
      spiffeId: req.id,
      dns,
      ip,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      certHash: certificateHash(cert),
    };
    let indexed = true;
    try {
      await this.#state.recordIssued(record, now, req.token);
    } catch (err) {
      if (!(req.indexOptional === true && req.token === undefined && err instanceof GatewayError && err.code === 'CA_UNAVAILABLE')) throw err;
      indexed = false;
    }
    const certPem = certificatePem(cert);
    return {
      certPem,
      chainPem: certPem + inter.pem,
      serial: record.serial,
      spiffeId: req.id,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      certHash: record.certHash,
      indexed,
    };
  }

  async revoke(serial: string, reason = 'unspecified'): Promise<RevokeResult> {
    const canonical = canonicalSerial(serial);
    if (canonical === undefined) throw new CaError('INVALID', `"${serial}" is not a serial number (expected hex digits, colons allowed).`);
    const [outcome] = await this.#state.revoke([{ serial: canonical, reason, revokedAt: new Date(this.#clock.now()).toISOString() }]);
    return { serial: canonical, alreadyRevoked: outcome?.alreadyRevoked ?? false, known: outcome?.known ?? false };
  }

  async revokeIdentity(spiffeId: string, reason = 'unspecified'): Promise<RevokeResult[]> {
    const now = this.#clock.now();
    const revokedAt = new Date(now).toISOString();
    const serials = (await this.#state.listIssued(now)).filter((c) => c.spiffeId === spiffeId && Date.parse(c.notAfter) > now).map((c) => c.serial);
    if (serials.length === 0) return [];
    const outcomes = await this.#state.revoke(serials.map((s) => ({ serial: s, reason, revokedAt })));
    return serials.map((s, i) => ({ serial: s, alreadyRevoked: outcomes[i]?.alreadyRevoked ?? false, known: true }));
  }

  isRevoked(serialHex: string): boolean {
    return this.#state.isRevoked(serialHex);
  }

  revocations(): readonly RevokedRecord[] {
    return this.#state.revocations();
  }

  async list(): Promise<ListedCertificate[]> {
    const issued = await this.#state.listIssued(this.#clock.now());
    await this.#state.refresh();
    const set = new Set(this.#state.revocations().map((r) => r.serial));
    return issued.map((c) => ({ ...c, revoked: set.has(c.serial) }));
  }

  findIssuedByHash(certHash: string): Promise<IssuedRecord | undefined> {
    return this.#state.findIssuedByHash(certHash);
  }

  async createToken(spiffeId: string, ttlMs: number): Promise<IssuedToken> {
    if (parseWorkloadId(spiffeId, this.trustDomain) === undefined) {
      throw new CaError('INVALID', `"${spiffeId}" is not a workload SPIFFE id in trust domain ${this.trustDomain}.`);
    }
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new CaError('INVALID', 'The token lifetime must be positive.');
    return createToken({ provisioner: this.#provisioner, trustDomain: this.trustDomain, spiffeId, ttlMs, clock: this.#clock });
  }

  verifyToken(token: string): Promise<TokenClaims> {
    return verifyToken(token, { provisioner: this.#provisioner, trustDomain: this.trustDomain, clock: this.#clock });
  }

  consumeToken(jti: string, expMs: number): Promise<void> {
    return this.#state.consumeToken({ jti, expMs }, this.#clock.now());
  }

  async reloadState(): Promise<void> {
    try {
      await this.#state.refresh();
    } catch (err) {
      // A shared state that is down keeps the revocation list as last read; its poll refreshes it later.
      if (!(this.#state.kind !== 'file' && err instanceof GatewayError && err.code === 'CA_UNAVAILABLE')) throw err;
    }
    try {
      await withDirLock(this.dir, () => this.loadIntermediate());
    } catch (err) {
      // A read-only CA directory (a mounted secret) cannot hold the lock; nobody rotates files there.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw err;
      await this.loadIntermediate();
    }
  }

  close(): Promise<void> {
    return this.#state.close();
  }
}

/**
 * Opens the CA in `dir`, or creates it when the directory is empty or missing (the gateway's first run).
 * Safe when several processes race: the loser of the init opens what the winner made.
 */
export async function ensureCaAuthority(dir: string, trustDomain: string, clock: Clock, state?: CaStateStore): Promise<Authority> {
  try {
    return await openAuthority(dir, { trustDomain, clock, state });
  } catch (err) {
    if (!(err instanceof CaError) || err.code !== 'NOT_FOUND') throw err;
  }
  try {
    return await initAuthority(dir, { trustDomain, clock, state });
  } catch (err) {
    if (err instanceof CaError && err.code === 'EXISTS') return openAuthority(dir, { trustDomain, clock, state });
    throw err;
  }
}
