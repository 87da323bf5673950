/**
 * The key manager and what it serves: outbound fetches through the allow-list, the cache of
 * remote key sets, the key manager itself (oidc-provider inside), the client service, DCR, the
 * sandbox directory (sandbox mode), the expiry sweeper, the console's sessions and the usage
 * counts behind its charts. Every host builds these; which routes they serve is the host's roles'.
 */
import type { Sessions } from '../admin/sessions.ts';
import { createSessions } from '../admin/sessions.ts';
import type { Config } from '../config/schema.ts';
import { createJwksCache, type JwksCache } from '../crypto/jwks.ts';
import { createDirectoryTrust } from '../dcr/directory-trust.ts';
import { createDcrService, type DcrService } from '../dcr/service.ts';
import { createClientCertificatePolicy } from '../dcr/transport-certificate.ts';
import { createOutboundFetch, type OutboundFetch } from '../http/outbound.ts';
import type { Logger } from '../logger.ts';
import { type ClientService, createClientService } from '../oauth/clients.ts';
import { interactionRoutes } from '../oauth/interactions/routes.ts';
import { createRequestGuard, type RequestGuard } from '../oauth/request-guard.ts';
import { createKeyManagerService, type KeyManagerService } from '../oauth/service.ts';
import { createUsageRecorder, type UsageRecorder } from '../observability/usage.ts';
import { createSandboxStore, type SandboxStore } from '../sandbox/store.ts';
import { CHANNELS } from '../shared-state/index.ts';
import { startExpirySweeper } from '../storage/sweeper.ts';
import { CLIENT_NOTICE } from '../gateway/live-catalogue.ts';
import { definitionSchemas } from '../consent/definitions.ts';
import { createConsentService, type ConsentService } from '../consent/service.ts';
import { createEventPolling, type EventPolling } from '../consent/events.ts';
import { createSetSigner } from '../crypto/set-signer.ts';
import { accessRoutes } from '../oauth/access/routes.ts';
import { clientName } from '../oauth/client-name.ts';
import { createBankSignIn } from '../oauth/bank-sign-in.ts';
import { createPsuSessions } from '../oauth/access/sessions.ts';
import { sandboxAccountSource, type PsuAccountSource } from '../consent/psu-accounts.ts';
import { bankAccountSource } from '../consent/bank-accounts.ts';
import { readFileSync } from 'node:fs';
import type { Scope } from './scope.ts';
import type { State } from './state.ts';
import type { Trust } from './trust.ts';

/** Usage counts (console charts): written every 10 s, per-minute rows kept 7 days. */
const USAGE_FLUSH_MS = 10_000;
const USAGE_RETENTION = 7 * 86_400;

export interface Services {
  /** Outbound requests (key manager discovery, client key sets) through the allow-list. */
  readonly fetch: OutboundFetch;
  /** Remote key sets (directory, software, trusted issuers), with the DCR limits on time and size. */
  readonly keySets: JwksCache;
  readonly usage: UsageRecorder;
  readonly keyManager: KeyManagerService;
  /** Open Banking consents: the resources the gateway serves, the authorisation the key manager binds. */
  readonly consents: ConsentService;
  /** The Events API's aggregated polling: the notices of revoked consents, for their TPPs. */
  readonly events: EventPolling;
  /** The accounts a PSU may choose on the consent page. */
  readonly psuAccounts: PsuAccountSource;
  readonly clients: ClientService;
  readonly dcr: DcrService;
  /** Checks requests for oidc-provider's paths before the provider sees them. */
  readonly providerGuard: RequestGuard;
  /** Present in sandbox mode only: this server is also the sandbox directory's keystore. */
  readonly sandbox: SandboxStore | undefined;
  readonly sessions: Sessions;
  /** The PSU login and consent pages, built here where the provider is known. */
  readonly interactions: ReturnType<typeof interactionRoutes>;
  /** The customer's access dashboard. */
  readonly access: ReturnType<typeof accessRoutes>;
}

/** The accounts customers choose from: the bank's account system when configured, else the sandbox users'. */
function accountSource(config: Config, extraCaPems: readonly string[], nowMs: () => number, scope: Scope): PsuAccountSource {
  const source = config.psu.account_source;
  if (!source) return sandboxAccountSource(config);
  const fetch = createOutboundFetch({
    allowedHosts: config.derived.outboundHosts,
    extraCaPems,
    timeoutMs: source.timeout * 1000,
    maxBytes: source.max_bytes,
    ...(source.client_cert_file && source.client_key_file
      ? { clientCertificate: { certPem: readFileSync(source.client_cert_file, 'utf8'), keyPem: readFileSync(source.client_key_file, 'utf8') } }
      : {}),
  });
  scope.defer('account source fetch', () => fetch.close());
  return bankAccountSource({
    url: source.url,
    fetch,
    authorization: source.authorization_env ? process.env[source.authorization_env] : undefined,
    cacheSeconds: source.cache_ttl,
    now: nowMs,
  });
}

export async function openServices(deps: {
  config: Config;
  logger: Logger;
  state: State;
  trust: Trust;
  serverCaPem: string | undefined;
  scope: Scope;
}): Promise<Services> {
  const { config, logger, trust, scope } = deps;
  const { storage, shared, metrics, now } = deps.state;
  const extraCaPems = deps.serverCaPem ? [deps.serverCaPem] : [];
  const fetch = createOutboundFetch({ allowedHosts: config.derived.outboundHosts, extraCaPems });
  scope.defer('outbound fetch', () => fetch.close());
  const cacheCfg = config.open_banking.dcr.jwks_cache;
  const keySetFetch = createOutboundFetch({
    allowedHosts: config.derived.outboundHosts,
    extraCaPems,
    timeoutMs: cacheCfg.timeout,
    maxBytes: cacheCfg.max_bytes,
  });
  scope.defer('key set fetch', () => keySetFetch.close());
  const keySets = createJwksCache({
    fetch: keySetFetch,
    maxAge: cacheCfg.max_age,
    staleFor: cacheCfg.stale_for,
    cooldown: cacheCfg.cooldown,
    timeoutMs: cacheCfg.timeout,
    ...(metrics ? { onResult: metrics.keySet } : {}),
  });
  // Durable per-minute counts for the console's charts (metrics are this process's counters only).
  const usage = createUsageRecorder({ store: storage.usage, logger, flushMs: USAGE_FLUSH_MS, retentionSeconds: USAGE_RETENTION });
  scope.defer('usage counts', () => usage.close().catch((err: unknown) => logger.warn({ err }, 'could not write the last usage counts')));
  // The consent service tells the key manager when a consent stops standing; built first, as the key manager reads consents.
  let keyManager!: Awaited<ReturnType<typeof createKeyManagerService>>;
  const schemas = definitionSchemas(storage.gateway);
  const consents = createConsentService({
    store: storage.consents,
    transaction: (op, work) => storage.transaction(op, work),
    schemas,
    baseUrl: config.derived.baseUrl.replace(/\/$/, ''),
    issuer: config.derived.issuer,
    now: () => now() * 1000,
    // The audit line of every change: ids and statuses only (the consent's data stays in the database).
    onChanged: (event, consent) =>
      logger.info(
        {
          consentId: event.consentId,
          type: consent.kind,
          clientId: consent.clientId,
          from: event.from,
          to: event.to,
          actor: event.actor,
          actorId: event.actorId,
          reason: event.reason,
        },
        'consent changed',
      ),
    onEnded: (consent) =>
      keyManager.endConsent(consent).catch((err: unknown) => {
        // Every token check reads the consent's status too: nothing it revokes stays usable.
        logger.warn({ err, consentId: consent.id }, "could not revoke an ended consent's tokens; its status already refuses them");
      }),
  });
  keyManager = await createKeyManagerService({
    config,
    logger,
    storage,
    shared,
    clientCert: trust.clientCert,
    fetch,
    keySets,
    now,
    consents,
    onTokenIssued: (grant, method, clientId) => {
      metrics?.tokenIssued(grant, method);
      usage.token(grant, clientId);
    },
  });
  scope.defer('key manager', () => keyManager.close());
  const clients = createClientService({ keyManager, storage, shared, config, now });
  const sandbox =
    config.server.mode === 'sandbox'
      ? createSandboxStore(config.derived.dataDir, { onInvalid: (path) => logger.warn({ path }, 'unreadable sandbox TPP skipped') })
      : undefined;
  const dcr = createDcrService({
    config,
    logger,
    storage,
    keyManager,
    clients,
    keySets,
    trust: createDirectoryTrust(config, sandbox),
    now,
    subscriptionsChanged: (clientId) => shared.publish(CHANNELS.gateway, `${CLIENT_NOTICE}${clientId}`),
    ...(metrics ? { observe: metrics.dcr } : {}),
  });
  const sweeper = startExpirySweeper(storage, {
    intervalMs: 60_000,
    now,
    noticeRetention: config.open_banking.events.notice_retention,
    onError: (err) => logger.warn({ err }, 'expiry clean-up failed'),
  });
  scope.defer('expiry sweeper', () => sweeper.stop());
  // Registered clients authenticate only over a certificate their software owns (as at registration).
  const providerGuard = createRequestGuard({
    findClient: clients.find,
    certificatePolicy: createClientCertificatePolicy({ config, keySets }),
    clientCert: trust.clientCert,
  });
  const sessions = await createSessions({
    storage,
    shared,
    idleSeconds: config.admin.session_idle_timeout,
    lifetimeSeconds: config.admin.session_lifetime,
    now,
  });
  const psuAccounts = accountSource(config, extraCaPems, () => now() * 1000, scope);
  const psuSessions = await createPsuSessions({
    storage,
    shared,
    idleSeconds: config.psu.session_idle_timeout,
    lifetimeSeconds: config.psu.session_lifetime,
    now,
  });
  // The bank's own sign-in for customers, when configured: for the consent pages and the access dashboard.
  const bank = config.psu.identity_provider ? createBankSignIn({ config, fetch, mac: psuSessions.mac, now }) : undefined;
  const events = createEventPolling({
    store: storage.consents,
    schemas,
    sign: createSetSigner(keyManager.keys),
    now: () => now() * 1000,
    // A TPP could not use a notice it was sent: its jti and error code (never its description).
    onSetError: (clientId, jti, err) => logger.warn({ clientId, jti, err: err ?? 'other' }, 'a TPP reported an event notice it could not use'),
  });
  return {
    fetch,
    keySets,
    usage,
    keyManager,
    consents,
    events,
    psuAccounts,
    clients,
    dcr,
    providerGuard,
    sandbox,
    sessions,
    interactions: interactionRoutes(keyManager, config, {
      bank,
      consents,
      accounts: psuAccounts,
      onAccountSourceFailure: (reason) => logger.warn({ reason }, "the bank's account system could not list a customer's accounts"),
      now: () => now() * 1000,
    }),
    access: accessRoutes({
      consents,
      accounts: psuAccounts,
      sessions: psuSessions,
      signIn: bank ? { kind: 'bank', bank } : { kind: 'form', check: (username, password) => keyManager.accounts.authenticate(username, password) },
      // The reason names the check that failed (issuer, nonce, acr, …), never a token or a code.
      onSignInFailure: (failure, reason) => logger.warn({ failure, reason }, "a customer's sign-in at the bank did not complete"),
      tppName: (clientId) => clientName(keyManager, clientId),
      displayName: (psu) => keyManager.accounts.displayName(psu),
      baseUrl: config.derived.baseUrl,
      sandbox: config.server.mode === 'sandbox',
    }),
  };
}
