/**
 * The API manager and the gateway: the catalogue (durable, announced on every change), this
 * worker's live route snapshot, the key managers, the backend pools, the identity key that signs
 * what backends are told of the caller, and, on a host with the gateway role, the gateway runtime
 * itself (README "Gateway").
 */
import { type Catalogue, createCatalogue, seedPlans } from '../apim/catalogue.ts';
import { createKeyManagerAdmin, type KeyManagerAdmin, residentKeyManager } from '../apim/key-managers.ts';
import type { Config } from '../config/schema.ts';
import { backendHostAllowed } from '../gateway/backend-hosts.ts';
import { createIdentitySigner } from '../gateway/identity.ts';
import { openLiveCatalogue } from '../gateway/live-catalogue.ts';
import { createBackendProxy } from '../gateway/proxy.ts';
import { createGateway, type Gateway, UNMATCHED_API } from '../gateway/runtime.ts';
import { createTokenResolver } from '../gateway/token-resolver.ts';
import { isAllowedUrl } from '../http/outbound.ts';
import type { Logger } from '../logger.ts';
import { CHANNELS } from '../shared-state/index.ts';
import { GATEWAY_VERSION_KEY } from '../storage/catalogue-records.ts';
import type { Scope } from './scope.ts';
import type { Services } from './services.ts';
import type { State } from './state.ts';
import type { Trust } from './trust.ts';

export interface ApiManager {
  readonly catalogue: Catalogue;
  readonly keyManagerAdmin: KeyManagerAdmin;
  /** Public key set of the gateway's identity JWTs, published at /gateway/jwks.json. */
  readonly identityJwks: { keys: unknown[] };
  /** The runtime, on a host with the gateway role (and [gateway] enabled). */
  readonly gateway: Gateway | undefined;
}

export async function openApiManager(deps: {
  config: Config;
  logger: Logger;
  state: State;
  trust: Trust;
  services: Services;
  scope: Scope;
}): Promise<ApiManager> {
  const { config, logger, trust, services, scope } = deps;
  const { storage, shared, metrics, now } = deps.state;
  await seedPlans(storage);
  await storage.gateway.ensureKeyManagers([residentKeyManager(config.derived.issuer, now())]);
  const live = await openLiveCatalogue({
    storage,
    shared,
    logger,
    checkInterval: config.gateway.check_interval,
    subscriptionTtl: config.gateway.subscription_cache_ttl,
    maxCached: 100_000,
  });
  scope.defer('live catalogue', () => live.close());
  // The worker that made a change serves it before answering; the others on the notice.
  const notifyCatalogue = async () => {
    await live.refresh();
    await shared
      .publish(CHANNELS.gateway, 'catalogue')
      .catch((err: unknown) => logger.warn({ err }, 'could not announce the gateway catalogue change; other hosts see it at their next check'));
  };
  const catalogue = createCatalogue({ storage, allowBackend: backendHostAllowed(config), notify: notifyCatalogue, now });
  const identity = await createIdentitySigner({
    storage,
    issuer: `${config.derived.issuer.replace(/\/$/, '')}/gateway`,
    lifetime: config.gateway.identity_lifetime,
    now,
  });
  const keyManagerAdmin = createKeyManagerAdmin({
    storage,
    fetch: services.fetch,
    notify: async () => {
      await storage.meta.increment(GATEWAY_VERSION_KEY);
      await notifyCatalogue();
    },
    self: { issuer: config.derived.issuer, baseUrl: config.derived.baseUrl },
    allowedUrl: (url) => isAllowedUrl(url, { allowedHosts: config.derived.outboundHosts }),
    ownKeys: () => [...services.keyManager.publicJwks().keys, ...identity.jwks.keys],
    now,
  });
  const proxy = createBackendProxy({
    connectTimeoutMs: config.gateway.backend_connect_timeout,
    timeoutMs: config.gateway.backend_timeout,
    connections: config.gateway.backend_connections,
    keepAliveMs: config.gateway.backend_keep_alive,
    maxRequestBody: config.gateway.max_request_body,
    maxResponseBody: config.gateway.max_response_body,
  });
  scope.defer('backend connections', () => proxy.close());
  const gateway =
    config.gateway.enabled && config.server.roles.includes('gateway')
      ? createGateway({
          config,
          logger,
          live,
          shared,
          clientCert: trust.clientCert,
          proxy,
          identity,
          idempotency: storage.gateway,
          keySets: services.keySets,
          consents: services.consents,
          events: services.events,
          now,
          resolver: createTokenResolver({
            config,
            verifier: services.keyManager.tokens,
            keySets: services.keySets,
            fetch: services.fetch,
            keyManagers: () => live.current().keyManagers,
            now,
          }),
          observe: (api, outcome, code) => {
            metrics?.gateway(api, outcome, code);
            if (api !== UNMATCHED_API) services.usage.gateway(api, code);
          },
        })
      : undefined;
  return { catalogue, keyManagerAdmin, identityJwks: identity.jwks, gateway };
}
