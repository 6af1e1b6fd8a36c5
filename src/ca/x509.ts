/**
 * X.509 building blocks of the built-in CA on @peculiar/x509 + node's WebCrypto: ECDSA P-256 keys,
 * root / intermediate / leaf certificates, serials, PEM helpers. No file I/O.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const subtle = webcrypto.subtle as unknown as SubtleCrypto;

/** The key algorithm of every key the CA makes. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** The signature algorithm of every certificate the CA signs. */
export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Creates a new extractable ECDSA P-256 key pair. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** Encodes a private CryptoKey as PKCS#8 PEM. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Imports a P-256 private key from PEM (PKCS#8 or SEC1 "EC PRIVATE KEY") as a signing CryptoKey. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return subtle.importKey('pkcs8', der, EC_P256, true, ['sign']);
}

/** The public half of a PEM private key, as SPKI DER. */
export function publicKeyDerOf(privateKeyPem: string): Buffer {
  return createPublicKey(createPrivateKey(privateKeyPem)).export({ format: 'der', type: 'spki' });
}

/** A new random positive 128-bit serial, canonical lowercase hex. */
export function randomSerial(): string {
  for (;;) {
    const hex = canonicalSerial(randomBytes(16).toString('hex'));
    // A serial of zero is not allowed (RFC 5280 §4.1.2.2); astronomically unlikely, still handled.
    if (hex !== undefined && hex !== '0') return hex;
  }
}

/**
 * The canonical form of a serial: lowercase hex, no colons, no leading zeros. Accepts upper case,
 * colon-separated (`0A:1B:…`) and `0x` forms. Undefined when it is not a hex number.
 */
export function canonicalSerial(text: string): string | undefined {
  let s = text.trim().toLowerCase().replace(/:/g, '');
  if (s.startsWith('0x')) s = s.slice(2);
  if (s.length === 0 || s.length > 64 || !/^[0-9a-f]+$/.test(s)) return undefined;
  return BigInt(`0x${s}`).toString(16);
}

/** Splits a PEM bundle into its PEM blocks, in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----/g)?.map((b) => `${b}\n`) ?? [];
}

/** Parses the first certificate of a PEM text. Throws when there is none. */
export function parseCertificate(pem: string | Uint8Array): x509.X509Certificate {
  if (typeof pem === 'string') {
    const first = splitPem(pem).find((b) => b.startsWith('-----BEGIN CERTIFICATE-----'));
    if (first === undefined) throw new Error('no PEM certificate found');
    return new x509.X509Certificate(first);
  }
  return new x509.X509Certificate(new Uint8Array(pem));
}

/** PEM text of a certificate, with a trailing newline. */
export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem')}\n`;
}

/** The certificate's serial in canonical form. */
export function serialOf(cert: x509.X509Certificate): string {
  return canonicalSerial(cert.serialNumber) ?? cert.serialNumber.toLowerCase();
}

/** sha256 of the certificate DER, lowercase hex (the x-forwarded-client-cert Hash). */
export function certificateHash(cert: x509.X509Certificate): string {
  return createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex');
}

/** Subject alternative names of a certificate or request, by kind. */
export interface SanNames {
  readonly uris: string[];
  readonly dns: string[];
  readonly ip: string[];
  /** Names of any other kind (email, directory name, …). */
  readonly other: number;
}

/** Reads the SAN extension of a certificate, or an extension list (a CSR's). */
export function sanNamesOf(source: x509.X509Certificate | readonly x509.Extension[]): SanNames {
  const exts = 'extensions' in source ? source.extensions : source;
  const uris: string[] = [];
  const dns: string[] = [];
  const ip: string[] = [];
  let other = 0;
  for (const ext of exts) {
    if (ext.type !== x509.SubjectAlternativeNameExtension.NAME && ext.type !== '2.5.29.17') continue;
    const san = ext instanceof x509.SubjectAlternativeNameExtension ? ext : new x509.SubjectAlternativeNameExtension(ext.rawData);
    for (const n of san.names.items) {
      if (n.type === 'url') uris.push(n.value);
      else if (n.type === 'dns') dns.push(n.value);
      else if (n.type === 'ip') ip.push(n.value);
      else other++;
    }
  }
  return { uris, dns, ip, other };
}

/** Validates names for DNS SANs (RFC 1123 labels, an optional leading "*."). Returns the bad ones. */
export function invalidDnsNames(names: readonly string[]): string[] {
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
  return names.filter((n) => {
    const body = n.startsWith('*.') ? n.slice(2) : n;
    return body.length === 0 || body.length > 253 || !body.split('.').every((l) => label.test(l));
  });
}

/** Returns the entries that are not IPv4 or IPv6 addresses. */
export function invalidIps(ips: readonly string[]): string[] {
  return ips.filter((ip) => isIP(ip) === 0);
}

function lastSegment(spiffeId: string): string {
  const seg = spiffeId.slice(spiffeId.lastIndexOf('/') + 1);
  return seg.slice(0, 64) || 'workload';
}

async function skiOf(cert: x509.X509Certificate): Promise<string> {
  const ext = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ext) return ext.keyId;
  return (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId;
}

/** Parameters of a self-signed root. */
export interface RootParams {
  readonly keys: CryptoKeyPair;
  readonly trustDomain: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A self-signed root CA: basicConstraints CA (critical), keyCertSign + cRLSign, SKI, URI SAN spiffe://TD. */
export async function createRootCertificate(p: RootParams): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=tollgate root CA, O=${p.trustDomain}`,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    keys: p.keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(p.keys.publicKey),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${p.trustDomain}` }]),
    ],
  });
}

/** Parameters of a certificate signed by `issuer`. */
export interface SignedParams {
  readonly issuer: x509.X509Certificate;
  readonly issuerKey: CryptoKey;
  /** SPKI DER, a public CryptoKey or a PublicKey. */
  readonly publicKey: x509.PublicKeyType;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A signing intermediate: CA with pathLen 0 (it signs leaves only), keyCertSign + cRLSign, AKI/SKI. */
export async function createIntermediateCertificate(p: SignedParams & { readonly trustDomain: string }): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=tollgate intermediate CA, O=${p.trustDomain}`,
    issuer: p.issuer.subject,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    publicKey: p.publicKey,
    signingKey: p.issuerKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(p.publicKey),
      new x509.AuthorityKeyIdentifierExtension(await skiOf(p.issuer)),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${p.trustDomain}` }]),
    ],
  });
}

/** What a leaf names. */
export interface LeafNames {
  /** The one URI SAN. */
  readonly spiffeId: string;
  readonly dns?: readonly string[];
  readonly ip?: readonly string[];
}

/**
 * A workload leaf (X509-SVID): exactly one URI SAN plus optional DNS/IP SANs, not a CA (critical),
 * digitalSignature (critical), serverAuth + clientAuth, AKI/SKI. The caller validated the names.
 */
export async function createLeafCertificate(p: SignedParams & LeafNames & { readonly serial: string }): Promise<x509.X509Certificate> {
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: p.spiffeId },
    ...(p.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(p.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const td = p.spiffeId.slice('spiffe://'.length).split('/')[0] ?? '';
  return x509.X509CertificateGenerator.create({
    serialNumber: p.serial,
    subject: `CN=${lastSegment(p.spiffeId)}, O=${td}`,
    issuer: p.issuer.subject,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    publicKey: p.publicKey,
    signingKey: p.issuerKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(p.publicKey),
      new x509.AuthorityKeyIdentifierExtension(await skiOf(p.issuer)),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  });
}

/** The @peculiar/x509 namespace, with node's WebCrypto already installed as its provider. */
export { x509 };
