/**
 * Certificate generation for the sandbox and for tests: CAs, TLS server certificates and
 * OB-style transport (client) certificates, built in-process with @peculiar/x509 over Node's
 * WebCrypto so nothing shells out to openssl.
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs it loaded first
import * as x509 from '@peculiar/x509';
import { KeyObject, X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { parseDn } from './dn.ts';
import type { Rdn } from './dn.ts';

// The library keeps its provider in a module global; Node's WebCrypto is the only one we use.
x509.cryptoProvider.set(webcrypto);

/** A certificate with its private key. */
export interface IssuedCertificate {
  /** The certificate alone, PEM. */
  readonly certPem: string;
  /** Its private key, PKCS#8 PEM. */
  readonly keyPem: string;
  /** The certificate followed by its issuing CAs up to, but excluding, the root (a root's chain is itself). */
  readonly chainPem: string;
  /** Parsed form, for checks such as `checkIssued`, `verify` and `checkHost`. */
  readonly x509: X509Certificate;
}

/** `rsa`: RSA 2048 with RSASSA-PKCS1-v1_5 SHA-256; `ec`: ECDSA P-256 with SHA-256. */
export type KeyType = 'rsa' | 'ec';

interface CommonOptions {
  readonly validityDays: number;
  readonly keyType?: KeyType;
  /** Start of validity, for tests; default now. */
  readonly now?: Date;
}

/** Options of {@link createCertificateAuthority}. */
export interface CertificateAuthorityOptions extends CommonOptions {
  /** Subject DN, written in certificate order as OpenSSL prints it (e.g. `C=GB, O=x, CN=y`). */
  readonly subject: string;
  /** Signing CA; without it the CA is a self-signed root. */
  readonly issuer?: IssuedCertificate;
}

/** Options of {@link issueServerCertificate}. */
export interface ServerCertificateOptions extends CommonOptions {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** Options of {@link issueClientCertificate}. */
export interface ClientCertificateOptions extends CommonOptions {
  /** Subject DN in certificate order, e.g. `C=GB, O=OpenBanking, 2.5.4.97=PSDGB-OB-..., OU=..., CN=...`. */
  readonly subject: string;
  /** Extra extensions (e.g. the PSD2 qcStatement of src/crypto/psd2-roles.ts). */
  readonly extensions?: readonly x509.Extension[];
}

const DAY_MS = 86_400_000;
// Backdated so a peer whose clock is slightly behind does not see a not-yet-valid certificate.
const BACKDATE_MS = 5 * 60_000;

/**
 * Creates a CA: a self-signed root when `issuer` is absent, otherwise an intermediate or
 * issuing CA signed by `issuer`. EC P-256 by default.
 */
export async function createCertificateAuthority(opts: CertificateAuthorityOptions): Promise<IssuedCertificate> {
  return issue({
    subject: opts.subject,
    issuer: opts.issuer,
    validityDays: opts.validityDays,
    keyType: opts.keyType ?? 'ec',
    now: opts.now,
    extensions: () => [
      // RFC 5280 §4.2.1.9: cA MUST be critical in CA certificates.
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
}

/** Issues a TLS server certificate (serverAuth) for the given names. EC P-256 by default. */
export async function issueServerCertificate(ca: IssuedCertificate, opts: ServerCertificateOptions): Promise<IssuedCertificate> {
  const names = [...opts.dnsNames, ...opts.ipAddresses];
  if (names.length === 0) throw new TypeError('a server certificate needs at least one DNS name or IP address');
  for (const ip of opts.ipAddresses) if (!isIP(ip)) throw new TypeError(`"${ip}" is not an IP address`);
  const keyType = opts.keyType ?? 'ec';
  return issue({
    // The CN duplicates the first name only for tools that still display it; clients match the SAN.
    subject: [[{ type: '2.5.4.3', value: names[0]! }]],
    issuer: ca,
    validityDays: opts.validityDays,
    keyType,
    now: opts.now,
    extensions: () => [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(leafKeyUsage(keyType), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...opts.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
}

/**
 * Issues a client (OB transport) certificate: clientAuth, RSA 2048 by default because that is
 * what the OB directory issues.
 */
export async function issueClientCertificate(ca: IssuedCertificate, opts: ClientCertificateOptions): Promise<IssuedCertificate> {
  const keyType = opts.keyType ?? 'rsa';
  return issue({
    subject: opts.subject,
    issuer: ca,
    validityDays: opts.validityDays,
    keyType,
    now: opts.now,
    extensions: () => [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(leafKeyUsage(keyType), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ...(opts.extensions ?? []),
    ],
  });
}

interface IssueParams {
  readonly subject: string | Rdn[];
  readonly issuer: IssuedCertificate | undefined;
  readonly validityDays: number;
  readonly keyType: KeyType;
  readonly now: Date | undefined;
  readonly extensions: () => x509.Extension[];
}

async function issue(params: IssueParams): Promise<IssuedCertificate> {
  if (!Number.isFinite(params.validityDays) || params.validityDays <= 0) throw new TypeError('validityDays must be a positive number');
  if (params.issuer && !params.issuer.x509.ca) throw new TypeError('the issuer certificate is not a CA');
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHMS[params.keyType], true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const subject = toName(typeof params.subject === 'string' ? parseDn(params.subject) : params.subject);
  const signingKey = params.issuer ? await importSigningKey(params.issuer.keyPem) : keys.privateKey;
  const start = (params.now ?? new Date()).getTime();
  let notAfter = new Date(start + params.validityDays * DAY_MS);
  // A certificate cannot be usable for longer than its issuer, so do not pretend otherwise.
  if (params.issuer && params.issuer.x509.validToDate < notAfter) notAfter = params.issuer.x509.validToDate;
  if (notAfter.getTime() <= start) throw new TypeError('the issuer certificate has expired');

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject,
    issuer: params.issuer ? issuerName(params.issuer) : subject,
    notBefore: new Date(start - BACKDATE_MS),
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    extensions: [
      ...params.extensions(),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      params.issuer ? authorityKeyIdentifier(params.issuer) : await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });

  const certPem = cert.toString('pem');
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  const issuerChain = params.issuer && !isSelfSigned(params.issuer.x509) ? params.issuer.chainPem : '';
  return { certPem: `${certPem.trim()}\n`, keyPem, chainPem: `${certPem.trim()}\n${issuerChain}`, x509: new X509Certificate(certPem) };
}

const KEY_ALGORITHMS = {
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  ec: { name: 'ECDSA', namedCurve: 'P-256' },
} as const;

const EC_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const key = createPrivateKey(pem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const curve = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  const algorithm =
    key.asymmetricKeyType === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      : key.asymmetricKeyType === 'ec' && curve
        ? { name: 'ECDSA', namedCurve: curve }
        : undefined;
  if (!algorithm) throw new TypeError(`unsupported issuer key type "${key.asymmetricKeyType}"`);
  return await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
}

// The child's issuer field must equal the issuer's subject byte for byte, so reuse its DER.
function issuerName(issuer: IssuedCertificate): x509.Name {
  return new x509.Name(new x509.X509Certificate(issuer.x509.raw).subjectName.toArrayBuffer());
}

function authorityKeyIdentifier(issuer: IssuedCertificate): x509.Extension {
  const ski = new x509.X509Certificate(issuer.x509.raw).getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new TypeError('the issuer certificate has no subject key identifier');
  return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
}

function leafKeyUsage(keyType: KeyType): number {
  // keyEncipherment only means something for RSA key transport (TLS 1.2 RSA key exchange).
  return x509.KeyUsageFlags.digitalSignature | (keyType === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0);
}

// 16 random bytes with the top bit clear (a positive INTEGER) and the next set (no leading zero).
function randomSerialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

// Explicit string types: PrintableString where X.520 requires it (C, serialNumber) or allows
// it, IA5String for emailAddress/DC, UTF8String otherwise; #hexstring BER is kept as given.
function toName(rdns: Rdn[]): x509.Name {
  if (rdns.length === 0) throw new TypeError('empty subject');
  return new x509.Name(
    rdns.map((rdn) => {
      const item: Record<string, Array<string | x509.JsonAttributeObject>> = {};
      for (const attr of rdn) {
        item[attr.type] ??= [];
        item[attr.type]!.push(attr.ber !== undefined ? `#${attr.ber}` : encodeValue(attr.type, attr.value));
      }
      return item as x509.JsonAttributeAndValue;
    }),
  );
}

const IA5_TYPES = new Set(['1.2.840.113549.1.9.1', '0.9.2342.19200300.100.1.25']);
const PRINTABLE_ONLY = new Set(['2.5.4.6', '2.5.4.5']);

function encodeValue(type: string, value: string): x509.JsonAttributeObject {
  if (IA5_TYPES.has(type)) return { ia5String: value };
  if (x509.Name.isPrintableString(value)) return { printableString: value };
  if (PRINTABLE_ONLY.has(type)) throw new TypeError(`value "${value}" of ${type} must be a PrintableString`);
  return { utf8String: value };
}
