/**
 * Revocation marks for self-contained (JWT) access tokens, which no store holds and so nothing
 * can delete: when a client is deleted, a mark names it until the last token it could hold has
 * expired, and the token verifier refuses every token of a marked client. The marks live in the
 * shared state (every worker and host); the verifier also checks that the client still exists
 * in the database, so a mark lost with the shared state (a power loss on one host) lets nothing
 * through. A consent that stops standing (revoked, expired, consumed, deleted) is marked the same
 * way, and the verifier reads the consent itself for a token it has not kept.
 */
import type { Config } from '../config/schema.ts';
import type { SharedState } from '../shared-state/ports.ts';

/** Namespace of the marks in the shared state. */
export const REVOKED_CLIENTS = 'revoked-client';

/** Until when (epoch seconds) a token issued up to `now` may still be presented. */
export function tokenHorizon(config: Config, now: number): number {
  const v = config.oauth.token_validity;
  return now + Math.max(v.access_token, v.client_credentials_token) + config.oauth.clock_tolerance;
}

/** Marks every token of `clientId` revoked until the last one has expired. */
export function markClientRevoked(shared: Pick<SharedState, 'mark'>, config: Config, clientId: string, now: number): Promise<void> {
  return shared.mark(REVOKED_CLIENTS, clientId, tokenHorizon(config, now));
}

export const isClientRevoked = (shared: Pick<SharedState, 'has'>, clientId: string): Promise<boolean> => shared.has(REVOKED_CLIENTS, clientId);

/** Namespace of the marks of consents that no longer stand (their self-contained tokens stop at once). */
export const ENDED_CONSENTS = 'ended-consent';

/** Marks every token of a consent revoked until the last one has expired. */
export function markConsentEnded(shared: Pick<SharedState, 'mark'>, config: Config, consentId: string, now: number): Promise<void> {
  return shared.mark(ENDED_CONSENTS, consentId, tokenHorizon(config, now));
}

export const isConsentEnded = (shared: Pick<SharedState, 'has'>, consentId: string): Promise<boolean> => shared.has(ENDED_CONSENTS, consentId);
