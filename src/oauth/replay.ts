/**
 * oidc-provider's replay detection (the client assertion jti, RFC 7523 §3; DPoP proof jti) through
 * the storage ReplayStore, like the DCR request jti and the jwt-bearer grant.
 *
 * oidc-provider's own `ReplayDetection.unique` is a find, then an upsert, through the adapter: two
 * workers given the same assertion at the same moment can both find nothing and both accept it,
 * and every token request costs two statements on the shared oidc_models table. `remember` is one
 * atomic statement across processes (and batched per event loop turn on SQLite).
 */
import { hash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { ReplayStore } from '../storage/ports.ts';

/** Namespace of oidc-provider's replay ids in the ReplayStore. */
export const OIDC_REPLAY_NAMESPACE = 'oidc';

export function useStorageReplayDetection(provider: Provider, replay: ReplayStore): void {
  // Same key as oidc-provider's (bounded length, whatever the client sends as jti).
  const unique = (iss: string, jti: string, exp: number) => replay.remember(OIDC_REPLAY_NAMESPACE, hash('sha256', `${iss}${jti}`, 'base64url'), exp);
  Object.defineProperty(provider.ReplayDetection, 'unique', { value: unique, configurable: true });
}
