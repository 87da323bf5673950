/**
 * Whether a transport (mTLS client) certificate may speak for an Open Banking client: it chains to
 * the trust store, is within its validity period, and belongs to the client's software by the same
 * rule registration applied (binding.ts). Registration checks the certificate it is given; the
 * key manager asks the same question on every request that authenticates a registered client, so
 * a stolen signing key alone never yields a usable, certificate-bound token.
 */
import type { Config } from '../config/schema.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { clientCertificateError, type ClientCertificate } from '../http/client-cert.ts';
import { AppError, fail } from '../errors/app-error.ts';
import { checkTransportBinding, type SoftwareIdentity } from './binding.ts';

/** The certificate chains to the trust store and is valid now; otherwise 401 invalid_client saying which. */
export function requireTrustedCertificate(cert: ClientCertificate | undefined, now: number = Date.now()): ClientCertificate {
  const refused = clientCertificateError(cert, now);
  if (refused) throw refused;
  return cert!;
}

/** A registered client's software, from its metadata; undefined for clients without one (bank-internal). */
function softwareOf(client: Record<string, unknown>): SoftwareIdentity | undefined {
  const { software_id: softwareId, org_id: orgId, software_jwks_endpoint: jwks, jwks_uri: jwksUri } = client;
  if (typeof softwareId !== 'string' || softwareId === '' || typeof orgId !== 'string') return undefined;
  const url = typeof jwks === 'string' ? jwks : typeof jwksUri === 'string' ? jwksUri : '';
  return { software_id: softwareId, org_id: orgId, software_jwks_endpoint: url };
}

/**
 * Checks the certificate presented on a request authenticating `client`. Resolves to undefined
 * when it may, or to the 401 invalid_client error to answer with (its description is safe to send:
 * it describes the caller's own certificate). Clients without a software statement
 * (bank-internal) are not its business.
 */
export type ClientCertificatePolicy = (client: Record<string, unknown>, cert: ClientCertificate | undefined) => Promise<AppError | undefined>;

export function createClientCertificatePolicy(deps: { config: Config; keySets: JwksCache }): ClientCertificatePolicy {
  return async (client, cert) => {
    const software = softwareOf(client);
    if (!software) return undefined;
    try {
      const trusted = requireTrustedCertificate(cert);
      await checkTransportBinding(trusted.x509, software, deps);
      return undefined;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      // Registration's binding errors are 400s about metadata; here they refuse the client (401).
      if (err.code === 'TRANSPORT_CERT_NOT_BOUND') return fail('CLIENT_CERT_NOT_BOUND', err.description, { cause: err });
      if (err.code.startsWith('TRANSPORT_CERT_')) return fail('CLIENT_CERT_CHECK_UNAVAILABLE', err.description, { cause: err });
      return err;
    }
  };
}
