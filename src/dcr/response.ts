/**
 * The OB registration response (docs/dcr.md#the-response): the registered metadata, the SSA as sent, and the
 * SSA's own claims flattened to the top level — except those that would collide with the request
 * JWT's (iss, iat, exp, jti, aud) or with registered values.
 */
import { decodeJwt } from 'jose';

const NOT_FLATTENED = new Set(['iss', 'iat', 'exp', 'jti', 'aud', 'nbf', 'sub']);

/** Registered fields, in the order TPP developers expect to read them. */
const REGISTERED = [
  'client_id',
  'client_id_issued_at',
  'client_secret',
  'client_secret_expires_at',
  'redirect_uris',
  'token_endpoint_auth_method',
  'token_endpoint_auth_signing_alg',
  'tls_client_auth_subject_dn',
  'grant_types',
  'response_types',
  'software_id',
  'scope',
  'software_statement',
  'application_type',
  'id_token_signed_response_alg',
  'request_object_signing_alg',
  'jwks_uri',
] as const;

export function registrationResponse(
  client: Record<string, unknown>,
  extra: { registration_access_token?: string; registration_client_uri?: string } = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of REGISTERED) {
    const v = k === 'application_type' ? (client['ob_application_type'] ?? client['application_type']) : client[k];
    if (v !== undefined) out[k] = v;
  }
  let ssaClaims: Record<string, unknown> = {};
  try {
    ssaClaims = decodeJwt(String(client['software_statement'])) as Record<string, unknown>;
  } catch {
    // Stored SSAs were verified at registration; an unreadable one just is not flattened.
  }
  for (const [k, v] of Object.entries(ssaClaims)) {
    if (!NOT_FLATTENED.has(k) && !(k in out)) out[k] = v;
  }
  if (extra.registration_client_uri) out['registration_client_uri'] = extra.registration_client_uri;
  if (extra.registration_access_token) out['registration_access_token'] = extra.registration_access_token;
  return out;
}
