/** Certificate thumbprints as JOSE and RFC 8705 use them. */
import { createHash, type X509Certificate } from 'node:crypto';

// A keep-alive connection presents one certificate object for all its requests: hash it once.
const computed = new WeakMap<X509Certificate, string>();

/** `x5t#S256` / `cnf.x5t#S256`: base64url SHA-256 of the certificate's DER (RFC 7515 §4.1.8, RFC 8705 §3.1). */
export function x5tS256(cert: X509Certificate): string {
  let t = computed.get(cert);
  if (t === undefined) {
    t = createHash('sha256').update(cert.raw).digest('base64url');
    computed.set(cert, t);
  }
  return t;
}

/**
 * RFC 8705 §3: whether a token bound to `thumbprint` (its `cnf.x5t#S256`) may be used over `cert`.
 * An unbound token (no thumbprint) or a call without a certificate is bound to nothing.
 */
export const boundTo = (thumbprint: string | undefined, cert: X509Certificate | undefined): boolean =>
  thumbprint !== undefined && cert !== undefined && x5tS256(cert) === thumbprint;
