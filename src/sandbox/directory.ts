/**
 * A stand-in for the Open Banking Directory: a root and an issuing CA (transport certificates
 * chain to them), and a PS256 signing key whose certificate's SHA-1 thumbprint is its kid, as
 * the OB directory publishes it (an SSA's `kid` is the signing certificate's `x5t`:
 * docs/dcr.md#software-statements).
 */
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import { createCertificateAuthority, issueClientCertificate } from '../crypto/pki.ts';
import type { IssuedCertificate } from '../crypto/pki.ts';
import { certificateFromJson, certificateJwk, certificateToJson, escapeDnValue, x5t } from './certificates.ts';
import type { CertificateJson } from './certificates.ts';
import { signJws } from './jws.ts';
import type { SignOptions } from './jws.ts';

export const DEFAULT_DIRECTORY_NAME = 'OpenDCR Sandbox Directory';

export interface SandboxDirectory {
  /** SSA `iss`; also names the CAs (`<issuer> Root CA`). */
  readonly issuer: string;
  /** Trust anchor for transport certificates and the JWKS host's TLS certificate. */
  readonly rootCa: IssuedCertificate;
  /** Signs TPP transport certificates and server certificates; signed by {@link rootCa}. */
  readonly issuingCa: IssuedCertificate;
  /** Certificate of the SSA signing key (RSA 2048, issued by {@link issuingCa}). */
  readonly signingCertificate: IssuedCertificate;
  /** The SSA signing key's kid: base64url SHA-1 thumbprint of {@link signingCertificate}. */
  readonly kid: string;
  /** Public directory JWKS: the signing key, `use: sig`, `alg: PS256`, with `x5c`, `x5t`, `x5t#S256`. */
  readonly jwks: JSONWebKeySet;
  /** Signs `payload` as the directory (PS256, `typ: JWT`, its kid); options make bad variants. */
  sign(payload: Record<string, unknown>, opts?: SignOptions): Promise<string>;
  toJSON(): SandboxDirectoryJson;
}

/** Serialised directory; private keys are PKCS#8 PEM. */
export interface SandboxDirectoryJson {
  readonly version: 1;
  readonly issuer: string;
  readonly rootCa: CertificateJson;
  readonly issuingCa: CertificateJson;
  readonly signingCertificate: CertificateJson;
}

export interface SandboxDirectoryOptions {
  /** Issuer name (SSA `iss`); default "OpenDCR Sandbox Directory". */
  readonly name?: string;
  /** Start of certificate validity; default now. */
  readonly now?: Date;
}

const ORG = 'C=GB, O=OpenDCR Sandbox';

/** Creates a directory with fresh CAs and signing key. */
export async function createSandboxDirectory(opts: SandboxDirectoryOptions = {}): Promise<SandboxDirectory> {
  const issuer = opts.name ?? DEFAULT_DIRECTORY_NAME;
  if (!issuer.trim() || issuer.length > 100) throw new TypeError('the directory name must be 1 to 100 characters');
  const cn = escapeDnValue(issuer);
  const rootCa = await createCertificateAuthority({ subject: `${ORG}, CN=${cn} Root CA`, validityDays: 3650, now: opts.now });
  const issuingCa = await createCertificateAuthority({ subject: `${ORG}, CN=${cn} Issuing CA`, issuer: rootCa, validityDays: 1825, now: opts.now });
  // pki.ts has no signing-certificate profile; a clientAuth RSA leaf carries the key just as well here.
  const signingCertificate = await issueClientCertificate(issuingCa, {
    subject: `${ORG}, OU=Directory, CN=${cn} Signing`,
    validityDays: 730,
    keyType: 'rsa',
    now: opts.now,
  });
  return build(issuer, rootCa, issuingCa, signingCertificate);
}

/**
 * Rebuilds a directory from {@link SandboxDirectory.toJSON} output (parsed JSON).
 * @throws {TypeError} when the value is not a serialised directory.
 */
export function loadSandboxDirectory(json: unknown): SandboxDirectory {
  const value = json as Partial<SandboxDirectoryJson> | null;
  if (value?.version !== 1) throw new TypeError('not a serialised sandbox directory (version 1)');
  if (typeof value.issuer !== 'string' || !value.issuer) throw new TypeError('sandbox directory: issuer must be a string');
  return build(
    value.issuer,
    certificateFromJson(value.rootCa, 'sandbox directory: rootCa'),
    certificateFromJson(value.issuingCa, 'sandbox directory: issuingCa'),
    certificateFromJson(value.signingCertificate, 'sandbox directory: signingCertificate'),
  );
}

function build(issuer: string, rootCa: IssuedCertificate, issuingCa: IssuedCertificate, signingCertificate: IssuedCertificate): SandboxDirectory {
  const key: KeyObject = createPrivateKey(signingCertificate.keyPem);
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('the directory signing key must be RSA');
  const kid = x5t(signingCertificate.x509);
  const jwk = certificateJwk(signingCertificate, 'sig', kid, 'PS256');
  return {
    issuer,
    rootCa,
    issuingCa,
    signingCertificate,
    kid,
    get jwks() {
      return { keys: [structuredClone(jwk)] };
    },
    sign: (payload, opts) => signJws(payload, { alg: 'PS256', kid, key }, opts),
    toJSON: () => ({
      version: 1,
      issuer,
      rootCa: certificateToJson(rootCa),
      issuingCa: certificateToJson(issuingCa),
      signingCertificate: certificateToJson(signingCertificate),
    }),
  };
}
