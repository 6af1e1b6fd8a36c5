/**
 * Certificate signing requests: parsing and validating what a workload sends to the CA API
 * (signature, key type, exactly one SPIFFE URI SAN in the trust domain), and building one on the
 * workload side (`tollgate cert request|renew`).
 */
import { createPublicKey } from 'node:crypto';
import { GatewayError } from '../core/errors.js';
import { parseSpiffeId } from '../identity/spiffe.js';
import { ECDSA_SHA256, importPrivateKeyPem, invalidDnsNames, invalidIps, publicKeyDerOf, sanNamesOf, x509 } from './x509.js';

/** Largest CSR PEM accepted, in characters. */
export const MAX_CSR_CHARS = 16_384;

/** A verified CSR, reduced to what the CA signs. */
export interface CsrRequest {
  /** SubjectPublicKeyInfo DER of the requested key. */
  readonly publicKeyDer: Uint8Array<ArrayBuffer>;
  readonly spiffeId: string;
  readonly dns: readonly string[];
  readonly ip: readonly string[];
}

function badCsr(message: string, cause?: unknown): GatewayError {
  return new GatewayError('BAD_CSR', message, cause === undefined ? {} : { cause });
}

/** Accepts ECDSA P-256 / P-384, Ed25519 and RSA of at least 2048 bits. */
function checkKey(der: Uint8Array): void {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (err) {
    throw badCsr('The CSR public key cannot be read', err);
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec' && (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1')) return;
  if (type === 'ed25519') return;
  if ((type === 'rsa' || type === 'rsa-pss') && (details.modulusLength ?? 0) >= 2048) return;
  throw badCsr('The CSR key must be ECDSA P-256/P-384, Ed25519 or RSA of at least 2048 bits');
}

/**
 * Parses and verifies a PEM CSR. BAD_CSR when it cannot be parsed, its signature does not verify,
 * its key is unsupported, or it does not carry exactly one valid SPIFFE URI SAN; FORBIDDEN when that
 * id is outside `trustDomain`.
 */
export async function parseCsr(pem: unknown, trustDomain: string): Promise<CsrRequest> {
  if (typeof pem !== 'string' || pem.length === 0) throw badCsr('The request needs a "csr" field holding a PEM CSR');
  if (pem.length > MAX_CSR_CHARS) throw badCsr('The CSR is too large');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem.trim());
  } catch (err) {
    throw badCsr('The CSR cannot be parsed', err);
  }
  const publicKeyDer = new Uint8Array(csr.publicKey.rawData);
  checkKey(publicKeyDer);
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw badCsr('The CSR signature cannot be verified', err);
  }
  if (!valid) throw badCsr('The CSR signature is not valid');
  let names;
  try {
    names = sanNamesOf(csr.extensions);
  } catch (err) {
    throw badCsr('The CSR subjectAltName cannot be read', err);
  }
  if (names.uris.length !== 1) throw badCsr('The CSR must carry exactly one URI subjectAltName, the SPIFFE id');
  if (names.other > 0) throw badCsr('The CSR may only carry URI, DNS and IP subjectAltNames');
  const spiffeId = names.uris[0] as string;
  const parsed = parseSpiffeId(spiffeId);
  if (parsed === undefined || parsed.path === '') throw badCsr(`The CSR URI "${spiffeId}" is not a workload SPIFFE id`);
  if (parsed.trustDomain !== trustDomain) {
    throw new GatewayError('FORBIDDEN', `The identity ${spiffeId} is outside the trust domain ${trustDomain}`);
  }
  if (invalidDnsNames(names.dns).length > 0 || invalidIps(names.ip).length > 0) throw badCsr('The CSR carries an invalid DNS or IP name');
  return { publicKeyDer, spiffeId, dns: names.dns, ip: names.ip };
}

/** Builds a PEM CSR for `keyPem` (EC P-256) naming `spiffeId` (plus optional DNS/IP SANs). */
export async function createCsr(p: { keyPem: string; spiffeId: string; dns?: readonly string[]; ip?: readonly string[] }): Promise<string> {
  const privateKey = await importPrivateKeyPem(p.keyPem);
  const publicKey = await new x509.PublicKey(new Uint8Array(publicKeyDerOf(p.keyPem))).export(
    { name: 'ECDSA', namedCurve: 'P-256' },
    ['verify'],
  );
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: p.spiffeId },
    ...(p.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(p.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const seg = p.spiffeId.slice(p.spiffeId.lastIndexOf('/') + 1).slice(0, 64) || 'workload';
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${seg}`,
    keys: { privateKey, publicKey },
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension(names)],
  });
  return `${csr.toString('pem')}\n`;
}
