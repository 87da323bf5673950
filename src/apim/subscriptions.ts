/**
 * Automatic subscriptions (docs/gateway.md#applications-and-subscriptions): every DCR registration
 * is an application of the resident key manager, subscribed to each published API whose required
 * roles intersect its software statement's software_roles, on the API's default plan (an external
 * key manager's client with the same client id is another application, never touched here). Runs
 * inside the registration's unit of work, so the registration and its subscriptions commit together
 * or not at all (WSO2 does this in eight REST calls with compensating deletes).
 */
import { randomUUID } from 'node:crypto';
import type { GatewayStore } from '../storage/ports.ts';
import type { ApiRecord } from '../storage/catalogue-records.ts';
import { RESIDENT_KEY_MANAGER } from '../storage/catalogue-records.ts';

const intersects = (api: ApiRecord, roles: readonly string[]) => api.requiredRoles.some((r) => roles.includes(r));

/**
 * Brings `clientId`'s subscriptions in line with `roles`: adds one for each PUBLISHED API the roles
 * allow (a DEPRECATED API takes no new subscriptions), removes those to APIs the roles no longer
 * allow. Existing subscriptions keep their plan and state (an admin's block survives a PUT).
 */
export async function syncSubscriptions(
  store: GatewayStore,
  clientId: string,
  roles: readonly string[],
  now: number,
  opts: { newClient?: boolean } = {},
): Promise<{ added: number; removed: number }> {
  // A client id made by this registration has no subscriptions yet: one read less on the hot path.
  const [apis, existing] = await Promise.all([
    store.listApis(),
    opts.newClient ? [] : store.listSubscriptions({ keyManager: RESIDENT_KEY_MANAGER, clientId, limit: 10_000 }),
  ]);
  const byApi = new Map(existing.map((s) => [s.apiId, s]));
  let added = 0;
  let removed = 0;
  for (const api of apis) {
    const sub = byApi.get(api.id);
    if (api.requiredRoles.length === 0) continue;
    if (sub && !intersects(api, roles)) {
      if (await store.deleteSubscription(sub.id)) removed += 1;
    } else if (!sub && api.state === 'PUBLISHED' && intersects(api, roles)) {
      const result = await store.addSubscription({
        id: randomUUID(),
        keyManager: RESIDENT_KEY_MANAGER,
        clientId,
        apiId: api.id,
        plan: api.plans[0]!,
        state: 'ACTIVE',
        createdAt: now,
        updatedAt: now,
      });
      if (result === 'added') added += 1;
    }
  }
  return { added, removed };
}
