/**
 * Open Banking consent on top of oidc-provider (docs/consents.md#authorising-a-consent): an
 * authorization request for an API scope must name its consent in its signed claims
 * (`openbanking_intent_id`), the consent must be this client's and await authorisation; each
 * consent gets its own grant; a code or refresh token is honoured only while its consent stands;
 * tokens and the ID token name the consent; a refresh token lives as long as its consent.
 *
 * oidc-provider calls these hooks at several points of one request. The first to read the consent
 * keeps it on the request (`consentOf`), so one request reads it once and every hook sees the same
 * record.
 */
import { errors as oidcErrors, interactionPolicy } from 'oidc-provider';
import { CONSENT_SCOPES, INTENT_CLAIM, authorisationRefusal, intentOfClaims, tokenRefusal } from '../consent/authorisation.ts';
import type { ConsentService } from '../consent/service.ts';
import { isPaymentKind } from '../consent/status.ts';
import type { ConsentRecord } from '../storage/consent-records.ts';
import { RESIDENT_KEY_MANAGER } from '../storage/catalogue-records.ts';

/** What the hooks read a consent through (the consent service: expiry applied on read). */
export type ConsentLookup = Pick<ConsentService, 'current'>;

// oidc-provider's request context, as far as these hooks read it.
interface Ctx {
  oidc: {
    route?: string;
    params?: Record<string, unknown>;
    trusted?: string[];
    client?: { clientId: string };
    session?: { accountId?: string };
    result?: { consent?: { grantId?: string } };
    provider: { Grant: { find(id: string): Promise<unknown> } };
  };
}

interface TokenLike {
  kind?: string;
  clientId?: string;
  grantId?: string;
  claims?: unknown;
}

const kept = new WeakMap<object, ConsentRecord>();

/** The consent a hook of this request has read, if any. */
export const consentOf = (ctx: unknown): ConsentRecord | undefined => (ctx && typeof ctx === 'object' ? kept.get(ctx) : undefined);

const requestedScopes = (ctx: Ctx): string[] =>
  String(ctx.oidc.params?.['scope'] ?? '')
    .split(' ')
    .filter(Boolean);

/**
 * The consent id an authorization request names, when it asks for an API scope; undefined when it
 * asks for none (sign-in only). Throws invalid_request when it asks for one and names no consent,
 * or names it outside the signed request object.
 */
function intentOfRequest(ctx: Ctx): string | undefined {
  if (!requestedScopes(ctx).some((s) => CONSENT_SCOPES.has(s))) return undefined;
  const claims = ctx.oidc.params?.['claims'];
  const found = intentOfClaims(claims);
  if ('problem' in found) throw new oidcErrors.InvalidRequest(found.problem);
  if (!ctx.oidc.trusted?.includes('claims')) {
    throw new oidcErrors.InvalidRequest(`${INTENT_CLAIM} must be in the claims of the signed request object`);
  }
  return found.intent;
}

export function createConsentBinding(deps: { consents: ConsentLookup; now: () => number; refreshTokenLifetime: number }) {
  async function read(ctx: object, id: string): Promise<ConsentRecord | undefined> {
    const hit = kept.get(ctx);
    if (hit && hit.id === id) return hit;
    const consent = await deps.consents.current(id);
    if (consent) kept.set(ctx, consent);
    return consent;
  }

  /** The consent this resumed request has just authorised: AUTH with the grant the consent page made, by the signed-in PSU. */
  const authorisedHere = (ctx: Ctx, c: ConsentRecord | undefined): boolean =>
    c !== undefined &&
    c.status === 'AUTH' &&
    c.deletedAt === null &&
    c.grantId !== null &&
    c.grantId === ctx.oidc.result?.consent?.grantId &&
    c.psu === ctx.oidc.session?.accountId &&
    c.clientId === ctx.oidc.client?.clientId;

  /** The authorization request's check (oidc-provider's interaction policy): throws the OAuth error, or lets it go on. */
  const authorizationCheck = new interactionPolicy.Check('ob_consent', 'the request names a consent it may authorise', async (ctx: unknown) => {
    const c = ctx as Ctx;
    const intent = intentOfRequest(c);
    if (intent === undefined) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const consent = await read(c, intent);
    if (authorisedHere(c, consent)) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const refusal = authorisationRefusal(consent, {
      keyManager: RESIDENT_KEY_MANAGER,
      clientId: c.oidc.client?.clientId ?? '',
      scopes: requestedScopes(c),
      now: deps.now(),
    });
    if (refusal?.error === 'invalid_scope') throw new oidcErrors.InvalidScope(refusal.description, requestedScopes(c).join(' '));
    if (refusal) throw new oidcErrors.InvalidRequest(refusal.description);
    return interactionPolicy.Check.NO_NEED_TO_PROMPT;
  });

  return {
    /** The interaction policy: oidc-provider's, with the consent check before sign-in (so a bad request never reaches the PSU). */
    policy() {
      const policy = interactionPolicy.base();
      policy.get('login')!.checks.add(authorizationCheck, 0);
      return policy;
    },

    /**
     * One grant per consent, never per PSU and client: a request naming a consent resumes only the
     * grant its own authorisation made; a new consent always gets the consent page and a new grant.
     */
    async loadExistingGrant(ctx: Ctx): Promise<unknown> {
      const intent = intentOfRequest(ctx);
      if (intent === undefined) {
        const grantId =
          ctx.oidc.result?.consent?.grantId ??
          (ctx.oidc.session as { grantIdFor?(id: string): string | undefined } | undefined)?.grantIdFor?.(ctx.oidc.client!.clientId);
        return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
      }
      const consent = await read(ctx, intent);
      return authorisedHere(ctx, consent) ? ctx.oidc.provider.Grant.find(consent!.grantId!) : undefined;
    },

    /**
     * Before a code or refresh token is honoured (oidc-provider's findAccount runs first in both
     * grants, and for userinfo): its consent must still stand, for this client, grant and PSU.
     * Throws invalid_grant (invalid_token at userinfo) otherwise.
     */
    async checkToken(ctx: unknown, subject: string, token: TokenLike | undefined): Promise<void> {
      if (!token || !ctx || typeof ctx !== 'object' || token.claims === undefined) return;
      const found = intentOfClaims(token.claims);
      if ('problem' in found) return; // a token of a request that named no consent (sign-in only)
      const consent = await read(ctx, found.intent);
      const refused = tokenRefusal(consent, { clientId: token.clientId ?? '', grantId: token.grantId, subject });
      if (refused === undefined) return;
      if (token.kind === 'AccessToken') throw new oidcErrors.InvalidToken(refused);
      throw new oidcErrors.InvalidGrant(refused);
    },

    /** Claims a PSU's access token adds: the consent it was issued for. */
    extraTokenClaims(ctx: unknown, token: TokenLike): Record<string, unknown> | undefined {
      if (token.kind !== 'AccessToken') return undefined;
      const consent = consentOf(ctx);
      return consent && consent.grantId === token.grantId ? { [INTENT_CLAIM]: consent.id } : undefined;
    },

    /** A payment consent is used once: its token gets no refresh token. */
    refreshTokenAllowed: (ctx: unknown): boolean => {
      const consent = consentOf(ctx);
      return !consent || !isPaymentKind(consent.kind);
    },

    /** Seconds a new refresh token lives: until its consent's end, else the configured lifetime. */
    refreshTokenTtl(ctx: unknown): number {
      const consent = consentOf(ctx);
      if (!consent || consent.expiresAt === null) return deps.refreshTokenLifetime;
      return Math.max(1, Math.floor((consent.expiresAt - deps.now()) / 1000));
    },
  };
}

export type ConsentBinding = ReturnType<typeof createConsentBinding>;
