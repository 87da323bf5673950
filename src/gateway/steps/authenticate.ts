/**
 * The token step: the Bearer access token, checked by the key manager that owns it (the token
 * resolver; src/gateway/token-resolver.ts) or taken from the cache of tokens verified before, then
 * bound to the certificate presented. What can change while a token is cached is asked again on
 * every call: its key manager's recheck (the resident client's revocation mark), and the binding,
 * which is checked here alone for every token, fresh or cached, resident or external. Every
 * refusal is a 401 whose Bearer challenge says which check failed (GATEWAY_TOKEN_*).
 */
import { bearerError } from '../../errors/app-error.ts';
import { psd2Roles } from '../../crypto/psd2-roles.ts';
import { boundTo } from '../../crypto/thumbprint.ts';
import type { TokenCache } from '../token-cache.ts';
import type { TokenResolver } from '../token-resolver.ts';
import type { Authenticated, Certified } from './call.ts';

export interface AuthenticateDeps {
  readonly resolver: Pick<TokenResolver, 'resolve' | 'recheck'>;
  /** Verified JWTs by the whole token, per catalogue version. */
  readonly tokens: Pick<TokenCache, 'get' | 'set' | 'forgetClient'>;
}

// RFC 6750 §2.1: b64token.
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

/** The token of an Authorization header, or the 401 saying what is wrong with the header. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined) throw bearerError('GATEWAY_TOKEN_MISSING', 'a Bearer access token is required');
  const m = BEARER.exec(header);
  if (!m) throw bearerError('GATEWAY_TOKEN_MALFORMED', 'the Authorization header is not Bearer and an access token');
  return m[1]!;
}

/** Adds who is calling (`caller`), and names the client in the access log. */
export async function authenticate(deps: AuthenticateDeps, call: Certified): Promise<Authenticated> {
  const raw = bearerToken(call.req.headers.authorization);
  const nowMs = Date.now();
  const { version } = call.snapshot;
  let token = deps.tokens.get(raw, nowMs, version);
  if (token === undefined) {
    token = await deps.resolver.resolve(raw);
    if (token.format === 'jwt') deps.tokens.set(raw, token, nowMs, version);
  } else {
    const pending = deps.resolver.recheck(token);
    const refused = pending && (await pending);
    if (refused) {
      deps.tokens.forgetClient(token.clientId);
      throw refused;
    }
  }
  // FAPI: every OB access token is bound to the certificate (RFC 8705 cnf x5t#S256); an unbound one is refused too.
  if (!boundTo(token.certificateThumbprint, call.cert.x509)) {
    throw bearerError(
      'GATEWAY_TOKEN_CERT_MISMATCH',
      token.certificateThumbprint === undefined
        ? 'the access token is not bound to a client certificate'
        : 'the access token is bound to another client certificate than the one presented',
    );
  }
  call.caller = { token, raw, roles: psd2Roles(call.cert.x509) ?? token.roles };
  if (call.ctx) call.ctx.clientId = token.clientId;
  return call as Authenticated;
}
