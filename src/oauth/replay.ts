/**
 * oidc-provider's replay detection (the client assertion jti, RFC 7523 §3; DPoP proof jti) through
 * the shared state every worker and host sees, like the jwt-bearer grant's assertion jti.
 *
 * oidc-provider's own `ReplayDetection.unique` is a find, then an upsert, through the adapter: two
 * workers given the same assertion at the same moment can both find nothing and both accept it,
 * and every token request costs two statements on the shared oidc_models table. `remember` is one
 * atomic operation across processes and hosts (SET NX on Redis, one statement on SQL).
 */
import { hash } from 'node:crypto';
import type Provider from 'oidc-provider';
import { providerCall } from './unavailable.ts';

/** Where one-time ids are recorded: the shared state (every worker and host). */
export interface OneTimeIds {
  remember(namespace: string, id: string, expiresAt: number): Promise<boolean>;
}

/** Namespace of oidc-provider's replay ids in the shared state. */
export const OIDC_REPLAY_NAMESPACE = 'oidc';

export function useSharedReplayDetection(provider: Provider, replay: OneTimeIds): void {
  // Same key as oidc-provider's (bounded length, whatever the client sends as jti). An outage of
  // the shared state is a 503, never a pass. oidc-provider passes exp + clock tolerance, which a
  // fractional exp (RFC 7519 allows one) makes fractional: the stores keep whole seconds.
  const unique = (iss: string, jti: string, exp: number) =>
    providerCall(() => replay.remember(OIDC_REPLAY_NAMESPACE, hash('sha256', `${iss}${jti}`, 'base64url'), Math.ceil(exp)));
  Object.defineProperty(provider.ReplayDetection, 'unique', { value: unique, configurable: true });
}
