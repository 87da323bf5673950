/**
 * The subscription step: the application's subscription to the API, the application being the
 * key manager that validated the token and its client id together (never another key manager's
 * client with the same id); 403 when there is none or it is blocked.
 */
import { fail } from '../../errors/app-error.ts';
import type { LiveCatalogue } from '../live-catalogue.ts';
import type { Authenticated, Subscribed } from './call.ts';

export interface SubscriptionDeps {
  readonly live: Pick<LiveCatalogue, 'subscription'>;
}

/** Adds the application's ACTIVE subscription to the API (`subscription`). */
export async function subscription(deps: SubscriptionDeps, call: Authenticated): Promise<Subscribed> {
  const { token } = call.caller;
  const sub = await deps.live.subscription(token.keyManager, token.clientId, call.match.api.id);
  if (!sub) throw fail('GATEWAY_NOT_SUBSCRIBED', 'the application is not subscribed to this API');
  if (sub.state !== 'ACTIVE') throw fail('GATEWAY_SUBSCRIPTION_BLOCKED', "the application's subscription to this API is blocked");
  call.subscription = sub;
  return call as Subscribed;
}
