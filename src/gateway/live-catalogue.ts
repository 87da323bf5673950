/**
 * The catalogue as one worker serves it: the current route snapshot (APIs, plans, key managers), rebuilt when a notice on the
 * gateway channel arrives (every change announces one) or when the periodic check finds the
 * catalogue version moved (a notice missed during a shared-state outage), and a bounded cache of
 * subscription lookups, dropped on every notice. Until the first load succeeds nothing is served.
 */
import type { Logger } from '../logger.ts';
import type { Storage } from '../storage/ports.ts';
import { CHANNELS, type SharedState } from '../shared-state/ports.ts';
import type { SubscriptionRecord } from '../storage/catalogue-records.ts';
import { RESIDENT_KEY_MANAGER } from '../storage/catalogue-records.ts';
import { GATEWAY_VERSION_KEY } from '../storage/catalogue-records.ts';
import { buildSnapshot, type RouteSnapshot } from './snapshot.ts';

export interface LiveCatalogue {
  /** The snapshot requests are routed by (swapped whole on a change). */
  current(): RouteSnapshot;
  /** The subscription of key manager `keyManager`'s client to an API (cached; null when there is none). */
  subscription(keyManager: string, clientId: string, apiId: string): Promise<SubscriptionRecord | null>;
  /** Calls `fn` with the client id of each application-change notice (a resident client: its registration changed or went). */
  onClientChanged(fn: (clientId: string) => void): void;
  /** Reloads now (tests, and the worker that made a change). */
  refresh(): Promise<void>;
  /**
   * Reloads if the catalogue version moved (one version read; callers at the same time share it,
   * plus at most one more after it): a request for a path no served API owns asks first, so an
   * API published through another worker or host is served at once, not after its notice.
   */
  catchUp(): Promise<void>;
  close(): void;
}

export interface LiveCatalogueOptions {
  storage: Storage;
  shared: Pick<SharedState, 'subscribe'>;
  logger: Logger;
  /** Seconds between version checks (a missed notice is caught by the next one). */
  checkInterval: number;
  /** Seconds a cached subscription lookup is used before it is read again. */
  subscriptionTtl: number;
  /** Most cached subscription lookups. */
  maxCached: number;
}

const EMPTY = buildSnapshot('', [], [], () => undefined);

/** Notice message prefix for one registration's subscriptions (`client:<client_id>`, a resident client); any other message means the catalogue. */
export const CLIENT_NOTICE = 'client:';

/** An application's cache key: key manager names hold no newline, so no two applications share one. */
const application = (keyManager: string, clientId: string) => `${keyManager}\n${clientId}`;

export async function openLiveCatalogue(opts: LiveCatalogueOptions): Promise<LiveCatalogue> {
  const { storage, logger } = opts;
  let snapshot = EMPTY;
  // application (key manager, client id) → apiId → lookup; bounded by the number of applications held.
  let cache = new Map<string, Map<string, { sub: SubscriptionRecord | null; until: number }>>();
  const clientListeners: Array<(clientId: string) => void> = [];
  // Moves on every notice and reload: a lookup that raced one is not cached.
  let generation = 0;
  let loading: Promise<void> | undefined;
  let again = false;

  const load = async (): Promise<void> => {
    const version = (await storage.meta.get(GATEWAY_VERSION_KEY)) ?? '0';
    if (version === snapshot.version && snapshot !== EMPTY) return;
    const [apis, plans, keyManagers] = await Promise.all([storage.gateway.listApis(), storage.gateway.listPlans(), storage.gateway.listKeyManagers()]);
    snapshot = buildSnapshot(
      version,
      apis,
      plans,
      (api, op) =>
        logger.warn(
          { api: api.id, context: api.context, method: op.method, path: op.path },
          'gateway route claimed by another served API; not served for this one',
        ),
      keyManagers,
    );
    cache = new Map();
    generation += 1;
  };
  // One load at a time; a notice during a load runs one more after it (so the newest change is seen).
  const refresh = (): Promise<void> => {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          again = false;
          await load();
        } while (again);
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };
  const refreshQuietly = (why: string) => {
    refresh().catch((err: unknown) => logger.warn({ err, why }, 'could not reload the gateway catalogue; serving the previous one'));
  };

  await refresh();
  const unsubscribe = await opts.shared.subscribe(CHANNELS.gateway, (message) => {
    // One registration's subscriptions changed (DCR): forget only what is cached for it.
    generation += 1;
    if (message.startsWith(CLIENT_NOTICE)) {
      const clientId = message.slice(CLIENT_NOTICE.length);
      cache.delete(application(RESIDENT_KEY_MANAGER, clientId));
      for (const fn of clientListeners) fn(clientId);
      return;
    }
    refreshQuietly('notice');
  });
  const timer = setInterval(() => refreshQuietly('timer'), opts.checkInterval * 1000);
  timer.unref();

  return {
    current: () => snapshot,
    async subscription(keyManager, clientId, apiId) {
      const now = Date.now();
      const app = application(keyManager, clientId);
      const hit = cache.get(app)?.get(apiId);
      if (hit && hit.until > now) return hit.sub;
      const held = generation;
      const sub = (await storage.gateway.findSubscription(keyManager, clientId, apiId)) ?? null;
      // A notice that arrived during the read may make this answer stale: keep it out of the cache.
      if (held !== generation) return sub;
      let perClient = cache.get(app);
      if (!perClient) {
        // Oldest application out first (Map keeps insertion order), so the cache stays bounded.
        if (cache.size >= opts.maxCached) cache.delete(cache.keys().next().value!);
        perClient = new Map();
        cache.set(app, perClient);
      }
      perClient.set(apiId, { sub, until: now + opts.subscriptionTtl * 1000 });
      return sub;
    },
    onClientChanged: (fn) => {
      clientListeners.push(fn);
    },
    refresh,
    catchUp: refresh,
    close() {
      clearInterval(timer);
      unsubscribe();
    },
  };
}
