/**
 * Open Banking TPPs for end-to-end tests: keys on the JWKS host, a transport certificate from
 * the sandbox CA, a client record (software_id makes it a FAPI 1.0 Final client), and an
 * openid-client Configuration whose every request goes over that client's mutual TLS.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import * as client from 'openid-client';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import type { IssuedCertificate } from '../../src/crypto/pki.ts';
import type { TestServer } from './server.ts';

export const REDIRECT_URI = 'https://tpp.example.com/cb';

export interface ObClient {
  readonly clientId: string;
  readonly metadata: Record<string, unknown>;
  /** Transport certificate (and key) presented over mutual TLS. */
  readonly cert: IssuedCertificate;
  /** PS256 signing key published at the client's jwks_uri (private_key_jwt, request objects). */
  readonly signingKey: { key: CryptoKey; kid: string };
  readonly publicJwk: JWK;
}

/** A PS256 key pair with its public JWK (kid set). */
export async function newSigningKey(kid: string = randomUUID()): Promise<{ key: CryptoKey; kid: string; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('PS256', { extractable: true });
  return { key: privateKey, kid, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'PS256', use: 'sig' } };
}

/** OB-style transport certificate subject, in certificate order. */
export const transportSubject = (cn: string) => `C=GB, O=OpenBanking, OU=0015800001HQQrZAAX, CN=${cn}`;

/**
 * Registers an OB client. `auth` picks the token endpoint authentication; `metadata` is merged
 * over FAPI defaults (cert-bound tokens, PS256 everywhere, code id_token). A tls_client_auth
 * client registers its subject DN in another order and case than its certificate carries.
 */
export async function registerObClient(ts: TestServer, auth: 'private_key_jwt' | 'tls_client_auth', metadata: Record<string, unknown> = {}): Promise<ObClient> {
  const softwareId = randomUUID().replaceAll('-', '').slice(0, 22);
  const cert = await ts.issueClientCert(transportSubject(softwareId));
  const { key, kid, publicJwk } = await newSigningKey();
  const record = await ts.server.clients.create({
    ...(auth === 'private_key_jwt'
      ? { token_endpoint_auth_signing_alg: 'PS256' }
      : { tls_client_auth_subject_dn: `o=OPENBANKING, Cn=${softwareId}, c=gb, OU=0015800001HQQrZAAX` }),
    token_endpoint_auth_method: auth,
    jwks_uri: ts.jwks.publish(softwareId, { keys: [publicJwk] }),
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code id_token', 'code'],
    redirect_uris: [REDIRECT_URI],
    scope: 'openid accounts payments',
    tls_client_certificate_bound_access_tokens: true,
    id_token_signed_response_alg: 'PS256',
    request_object_signing_alg: 'PS256',
    software_id: softwareId,
    org_id: '0015800001HQQrZAAX',
    software_roles: ['AISP', 'PISP'],
    ...metadata,
  });
  return { clientId: String(record['client_id']), metadata: record, cert, signingKey: { key, kid }, publicJwk };
}

/** An openid-client CustomFetch that sends everything through `dispatcher` (undici Agent). */
export function fetchVia(dispatcher: Dispatcher): client.CustomFetch {
  return async (url, options) => (await undiciFetch(url, { ...options, dispatcher } as never)) as unknown as Response;
}

/** openid-client Configuration for `c` from discovery, over `c`'s mutual TLS (or `cert` when given). */
export async function relyingParty(
  ts: TestServer,
  c: ObClient,
  clientAuth: client.ClientAuth,
  opts: { cert?: IssuedCertificate | null; discoveryUrl?: string } = {},
): Promise<client.Configuration> {
  const cert = opts.cert === null ? undefined : (opts.cert ?? c.cert);
  return client.discovery(new URL(opts.discoveryUrl ?? ts.url), c.clientId, { id_token_signed_response_alg: 'PS256' }, clientAuth, {
    [client.customFetch]: fetchVia(ts.mtlsAgent(cert)),
  });
}
