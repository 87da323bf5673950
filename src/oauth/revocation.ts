/**
 * Revocation marks for self-contained (JWT) access tokens, which no store holds and so nothing
 * can delete: when a client is deleted, a mark names it until the last token it could hold has
 * expired, and the token verifier refuses every token of a marked client.
 */
import type { Config } from '../config/schema.ts';
import type { ReplayStore, UnitOfWork } from '../storage/ports.ts';

/** Namespace of the marks in the ReplayStore (shared by every worker and host on the same storage). */
export const REVOKED_CLIENTS = 'revoked-client';

/** Until when (epoch seconds) a token issued up to `now` may still be presented. */
export function tokenHorizon(config: Config, now: number): number {
  const v = config.oauth.token_validity;
  return now + Math.max(v.access_token, v.client_credentials_token) + config.oauth.clock_tolerance;
}

/** Marks every token of `clientId` revoked, as part of the unit of work that deletes it. */
export async function markClientRevoked(tx: UnitOfWork, config: Config, clientId: string, now: number): Promise<void> {
  await tx.replay.remember(REVOKED_CLIENTS, clientId, tokenHorizon(config, now));
}

export const isClientRevoked = (replay: ReplayStore, clientId: string): Promise<boolean> => replay.has(REVOKED_CLIENTS, clientId);
