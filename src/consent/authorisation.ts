/**
 * What the authorisation server asks of a consent (docs/consents.md#authorising-a-consent): which
 * consent an authorization request names (`openbanking_intent_id` in its signed claims), whether
 * that request may authorise it, and what a token of it may still be used for. Plain functions over
 * the stored record: the oidc-provider hooks (src/oauth) call them and answer in OAuth's words.
 */
import type { ConsentRecord } from '../storage/consent-records.ts';
import { CONSENT_KIND_DEFS, kindDef } from './kinds.ts';

/** The claim that names the consent, in the id_token and userinfo members of the claims parameter. */
export const INTENT_CLAIM = 'openbanking_intent_id';

/** Longest ConsentId accepted (the ids generated here are 36 characters; OB allows 128). */
const INTENT_MAX = 128;

/** The scopes that ask for a consent's access; an authorization request with one of them names a consent. */
export const CONSENT_SCOPES: ReadonlySet<string> = new Set(CONSENT_KIND_DEFS.map((d) => d.scope));

export type IntentClaim = { readonly intent: string } | { readonly problem: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The consent id that an authorization request's claims parameter names, or why it names none.
 * OB's security profile: `claims.id_token.openbanking_intent_id` and/or
 * `claims.userinfo.openbanking_intent_id`, each `{ "value": <ConsentId>, "essential": true }`;
 * where both are there they name the same consent.
 */
export function intentOfClaims(claims: unknown): IntentClaim {
  let parsed: unknown = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return { problem: 'the claims parameter is not JSON' };
    }
  }
  if (!isObject(parsed)) return { problem: `the request object's claims must name the consent in ${INTENT_CLAIM}` };
  const found: string[] = [];
  for (const member of ['id_token', 'userinfo']) {
    const holder = parsed[member];
    if (holder === undefined || holder === null) continue;
    if (!isObject(holder)) return { problem: `claims.${member} must be an object` };
    const claim = holder[INTENT_CLAIM];
    if (claim === undefined) continue;
    if (!isObject(claim) || typeof claim['value'] !== 'string') return { problem: `claims.${member}.${INTENT_CLAIM} must carry the ConsentId as its value` };
    if (claim['essential'] !== true) return { problem: `claims.${member}.${INTENT_CLAIM} must be essential` };
    const value = claim['value'];
    if (value.length === 0 || value.length > INTENT_MAX) return { problem: `claims.${member}.${INTENT_CLAIM} is not a ConsentId` };
    found.push(value);
  }
  if (found.length === 0) return { problem: `the request object's claims must name the consent in ${INTENT_CLAIM} (essential)` };
  if (found.some((v) => v !== found[0])) return { problem: `claims.id_token and claims.userinfo name different consents` };
  return { intent: found[0]! };
}

/** The application and the request asking to authorise a consent. */
export interface AuthorisationAsk {
  readonly keyManager: string;
  readonly clientId: string;
  /** The scopes requested. */
  readonly scopes: readonly string[];
  /** Epoch milliseconds. */
  readonly now: number;
}

/** Why an authorization request may not authorise the consent: the OAuth error and a description for the TPP. */
export interface AuthorisationRefusal {
  readonly error: 'invalid_request' | 'invalid_scope';
  readonly description: string;
}

/**
 * Undefined when `ask` may take the PSU on to authorise `consent` (as read now, expiry applied),
 * else the refusal. Another application's consent, a deleted and an unknown one are refused in the
 * same words, so an id says nothing about consents elsewhere. Only a consent awaiting authorisation
 * can be authorised: re-authorising a long-lived consent is not offered yet (docs/consents.md).
 */
export function authorisationRefusal(consent: ConsentRecord | undefined, ask: AuthorisationAsk): AuthorisationRefusal | undefined {
  if (!consent || consent.deletedAt !== null || consent.keyManager !== ask.keyManager || consent.clientId !== ask.clientId) {
    return { error: 'invalid_request', description: `${INTENT_CLAIM} names no consent of this client` };
  }
  const wanted = kindDef(consent.kind).scope;
  const asked = ask.scopes.filter((s) => CONSENT_SCOPES.has(s));
  if (asked.length !== 1 || asked[0] !== wanted) {
    return { error: 'invalid_scope', description: `this consent is authorised with the scope ${wanted}, and no other API scope` };
  }
  if (consent.status !== 'AWAU') {
    return { error: 'invalid_request', description: 'the consent is not awaiting authorisation' };
  }
  if (consent.expiresAt !== null && ask.now >= consent.expiresAt) {
    return { error: 'invalid_request', description: 'the consent has passed its end' };
  }
  return undefined;
}

/** What the PSU's token of a consent may still be used for: undefined when the consent stands, else why not. */
export function tokenRefusal(
  consent: ConsentRecord | undefined,
  token: { clientId: string; grantId?: string | undefined; subject?: string | undefined },
): string | undefined {
  if (!consent || consent.deletedAt !== null) return 'the consent is gone';
  if (consent.clientId !== token.clientId) return 'the consent belongs to another client';
  if (consent.status !== 'AUTH') return 'the consent is no longer authorised';
  if (token.grantId !== undefined && consent.grantId !== token.grantId) return 'the token was not issued for this authorisation of the consent';
  if (token.subject !== undefined && consent.psu !== token.subject) return 'the consent was authorised by another customer';
  return undefined;
}
