/**
 * Who may read, update or delete a registration (OB DCR §1.1, RFC 7592): the client itself,
 * with an access token from its own client_credentials grant bound to the same transport
 * certificate (RFC 8705 §3), or with its registration access token. Every failure is 401 with a
 * Bearer challenge — never 404, which would tell a stranger which client ids exist.
 */
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { x5tS256 } from '../crypto/thumbprint.ts';
import type { Config } from '../config/schema.ts';
import type { KeyManagerService } from '../oauth/service.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import { invalidToken } from '../errors/oauth-errors.ts';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface Presented {
  authorization: string | undefined;
  certificate: ClientCertificate;
}

interface FoundToken { clientId: string; revoke?: () => Promise<void> }

const thumbprint = (cert: ClientCertificate) => x5tS256(cert.x509);

// One verifier per published key set (it changes only on rotation): jose then imports each key once.
const verifiers = new WeakMap<{ keys: JWK[] }, ReturnType<typeof createLocalJWKSet>>();
function verifierFor(jwks: { keys: JWK[] }): ReturnType<typeof createLocalJWKSet> {
  let v = verifiers.get(jwks);
  if (!v) {
    v = createLocalJWKSet(jwks);
    verifiers.set(jwks, v);
  }
  return v;
}

/** Extracts the bearer token; RFC 6750 §3.1 error shapes for missing and malformed headers. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') {
    throw invalidToken('an access token is required: Authorization: Bearer <token>', { credentialsPresent: false });
  }
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(authorization);
  if (!m) throw invalidToken('the Authorization header must be "Bearer <token>"', { credentialsPresent: true });
  return m[1]!;
}

async function findJwtToken(token: string, cert: ClientCertificate, km: KeyManagerService, config: Config): Promise<FoundToken | undefined> {
  try {
    const { payload } = await jwtVerify(token, verifierFor(km.publicJwks()), {
      issuer: config.derived.issuer,
      typ: 'at+jwt',
      algorithms: ['PS256', 'ES256'],
      clockTolerance: config.oauth.clock_tolerance,
      requiredClaims: ['exp', 'client_id', 'sub'],
    });
    const clientId = payload['client_id'];
    // A client_credentials token is about the client itself (sub = client_id), not a PSU.
    if (typeof clientId !== 'string' || payload.sub !== clientId) return undefined;
    const cnf = payload['cnf'] as Record<string, unknown> | undefined;
    if (cnf?.['x5t#S256'] !== thumbprint(cert)) return undefined;
    return { clientId };
  } catch {
    return undefined;
  }
}

async function findOpaqueToken(token: string, cert: ClientCertificate, km: KeyManagerService): Promise<FoundToken | undefined> {
  const provider = km.provider;
  const cc = await provider.ClientCredentials.find(token) as unknown as (Record<string, unknown> & { clientId: string; destroy(): Promise<void> }) | undefined;
  if (cc) {
    if (cc['x5t#S256'] !== undefined && cc['x5t#S256'] !== thumbprint(cert)) return undefined;
    return { clientId: cc.clientId, revoke: () => cc.destroy() };
  }
  const rat = await provider.RegistrationAccessToken.find(token) as unknown as { clientId: string; destroy(): Promise<void> } | undefined;
  if (rat) return { clientId: rat.clientId, revoke: () => rat.destroy() };
  return undefined;
}

/**
 * Resolves the presented token to the client it was issued to and checks it is `clientId`.
 * `exists` tells whether the client still exists; when it does not, the token is revoked.
 */
export async function authorizeManagement(
  clientId: string,
  presented: Presented,
  deps: { config: Config; keyManager: KeyManagerService; exists: (clientId: string) => Promise<boolean> },
): Promise<void> {
  const token = bearerToken(presented.authorization);
  const found = JWT_SHAPE.test(token)
    ? await findJwtToken(token, presented.certificate, deps.keyManager, deps.config)
    : await findOpaqueToken(token, presented.certificate, deps.keyManager);
  const denied = invalidToken('the access token is not valid for this registration', { credentialsPresent: true });
  if (!found) throw denied;
  if (!(await deps.exists(clientId))) {
    // OB DCR §GET/PUT/DELETE /register/{ClientId}: "If the ClientId is unknown, the ASPSP responds
    // with an Unauthorized status code and immediately revokes the access token" — whichever client
    // it was issued to. Only its holder can cause that: a client_credentials token must also come
    // over the certificate it is bound to.
    await found.revoke?.();
    throw denied;
  }
  if (found.clientId !== clientId) throw denied;
}
