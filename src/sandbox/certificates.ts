/**
 * Certificate plumbing shared by the sandbox directory and TPPs: JSON form of an
 * {@link IssuedCertificate}, JWKs carrying a certificate (`x5c`, `x5t`, `x5t#S256`), and DN escaping.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { x5tS256 } from '../crypto/thumbprint.ts';
import type { JWK } from 'jose';
import type { IssuedCertificate } from '../crypto/pki.ts';

/** An {@link IssuedCertificate} without its parsed form, as written to disk. */
export interface CertificateJson {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  readonly chainPem: string;
}

export function certificateToJson(cert: IssuedCertificate): CertificateJson {
  return { certPem: cert.certPem, keyPem: cert.keyPem, chainPem: cert.chainPem };
}

export function certificateFromJson(json: unknown, what: string): IssuedCertificate {
  const value = json as Partial<CertificateJson> | null;
  if (typeof value?.certPem !== 'string' || typeof value.keyPem !== 'string' || typeof value.chainPem !== 'string') {
    throw new TypeError(`${what} must have certPem, keyPem and chainPem`);
  }
  return { certPem: value.certPem, keyPem: value.keyPem, chainPem: value.chainPem, x509: new X509Certificate(value.certPem) };
}

/** RFC 7515 §4.1.7: base64url SHA-1 of the DER; the OB directory uses it as the kid too. */
export function x5t(cert: X509Certificate): string {
  return createHash('sha1').update(cert.raw).digest('base64url');
}

/** RFC 7515 §4.1.8 / RFC 8705 §3.1: base64url SHA-256 of the DER. */
export { x5tS256 };

/** RFC 7517 §4.7: standard base64 DER of each certificate in the chain, leaf first. */
export function x5c(chainPem: string): string[] {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((pem) => new X509Certificate(pem).raw.toString('base64'));
}

/** The certificate's public key as a JWK with `use`, `kid` and the certificate members. */
export function certificateJwk(cert: IssuedCertificate, use: 'sig' | 'tls', kid: string, alg?: string): JWK {
  return {
    ...(cert.x509.publicKey.export({ format: 'jwk' }) as JWK),
    use,
    kid,
    ...(alg ? { alg } : {}),
    x5c: x5c(cert.chainPem),
    x5t: x5t(cert.x509),
    'x5t#S256': x5tS256(cert.x509),
  };
}

/** Escapes a value for a DN string as parsed by crypto/dn.ts (RFC 4514 §2.4). */
export function escapeDnValue(value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new TypeError('names must not contain control characters');
  return value
    .replace(/["+,;<>\\=]/g, '\\$&')
    .replace(/^[ #]/, '\\$&')
    .replace(/ $/, '\\ ');
}
