/**
 * Who may read, update or delete a registration (docs/dcr.md#management, RFC 7592): the client itself,
 * with an access token from its own client_credentials grant bound to the same transport
 * certificate (RFC 8705 §3), or with its registration access token. The token is checked by the
 * key manager's verifier. Every failure is 401 with a Bearer challenge and the same description
 * (never 404, which would tell a stranger which client ids exist); the stable code says why.
 */
import type { KeyManagerService } from '../oauth/service.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import { bearerError } from '../errors/app-error.ts';

export interface Presented {
  authorization: string | undefined;
  certificate: ClientCertificate;
}

const NOT_VALID = 'the access token is not valid for this registration';

/** Extracts the bearer token; RFC 6750 §3.1 error shapes for missing and malformed headers. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') {
    throw bearerError('TOKEN_MISSING', 'an access token is required: Authorization: Bearer <token>');
  }
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(authorization);
  if (!m) throw bearerError('TOKEN_MALFORMED', 'the Authorization header must be "Bearer <token>"');
  return m[1]!;
}

/**
 * Checks that the presented token is the client's own (a client_credentials token over its
 * certificate, or its registration access token). `exists` tells whether the path's client
 * still exists; when it does not, the token is revoked.
 */
export async function authorizeManagement(
  clientId: string,
  presented: Presented,
  deps: { keyManager: KeyManagerService; exists: (clientId: string) => Promise<boolean> },
): Promise<void> {
  const token = bearerToken(presented.authorization);
  const result = await deps.keyManager.tokens.verify(token, presented.certificate, { registrationTokens: true });
  if (!result.valid) {
    // A token of a client that is gone is dead: its record goes too (OB DCR: revoke at once).
    await result.revoke?.();
    throw bearerError(result.code, NOT_VALID);
  }
  // A client_credentials token is about the client itself; a PSU's token is not for this API.
  if (result.token.grant === 'psu') throw bearerError('TOKEN_INVALID', NOT_VALID);
  if (!(await deps.exists(clientId))) {
    // OB DCR §GET/PUT/DELETE /register/{ClientId}: "If the ClientId is unknown, the ASPSP responds
    // with an Unauthorized status code and immediately revokes the access token" — whichever client
    // it was issued to. Only its holder can cause that: a certificate-bound token must also come
    // over the certificate it is bound to.
    await result.token.revoke();
    throw bearerError('TOKEN_INVALID', NOT_VALID);
  }
  if (result.token.clientId !== clientId) throw bearerError('TOKEN_INVALID', NOT_VALID);
}
