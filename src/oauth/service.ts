/**
 * The key manager runtime: holds the current oidc-provider instance and rebuilds it when signing
 * keys or scopes change (in this worker at once, in other workers and hosts on their next check),
 * so `opendcr keys rotate` and the scope API take effect without a restart.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { Storage } from '../storage/ports.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { createKeyManager, PROVIDER_VERSION_KEY, type KeyManager } from '../crypto/keys.ts';
import { initializeKeyManagerState, retireGrace, retiredScopeNames } from './state.ts';
import { createOidcAdapter } from './adapter.ts';
import { createClientSecrets, type ClientSecrets } from './client-secrets.ts';
import { createTokenVerifier, introspectJwt, type TokenVerifier } from './token-verifier.ts';
import { CHANNELS, type SharedState } from '../shared-state/ports.ts';
import { buildProvider } from './provider.ts';
import { useSharedReplayDetection } from './replay.ts';
import { withClientRecords } from './request-clients.ts';
import { createAccountService, type AccountService } from './accounts.ts';
import { createTrustedIssuers, registerJwtBearerGrant } from './grants/jwt-bearer.ts';
import { createConsentBinding, type ConsentLookup } from './consent-binding.ts';
import { markConsentEnded } from './revocation.ts';
import type { ConsentRecord } from '../storage/consent-records.ts';

/**
 * The key manager as the rest of the server sees it. oidc-provider itself stays inside src/oauth
 * (KeyManagerInternals): other modules ask this service, never the provider's models.
 */
export interface KeyManagerService {
  readonly accounts: AccountService;
  readonly keys: KeyManager;
  readonly clientSecrets: ClientSecrets;
  /** Node request handler of the current provider. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Rebuilds the provider if keys or scopes changed since it was built. */
  refresh(force?: boolean): Promise<boolean>;
  /** Scope names currently in force. */
  scopes(): readonly string[];
  /** Public keys of the current provider (what /oauth2/jwks publishes), for verifying our own JWTs. */
  publicJwks(): { keys: JWK[] };
  /** Checks access tokens for resources (DCR management, the gateway, introspection of JWTs). */
  readonly tokens: TokenVerifier;
  /**
   * Stops every token of a consent that no longer stands, on every host: its grant's codes and
   * tokens deleted, the grant destroyed, and a mark for its self-contained access tokens.
   */
  endConsent(consent: ConsentRecord): Promise<void>;
  close(): void;
}

/** For src/oauth only: the live oidc-provider instance (rebuilt when keys or scopes change). */
export interface KeyManagerInternals extends KeyManagerService {
  readonly provider: Provider;
}

export interface KeyManagerDeps {
  config: Config;
  logger: Logger;
  storage: Storage;
  clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
  fetch: OutboundFetch;
  /** Remote key sets (trusted jwt-bearer issuers). */
  keySets: JwksCache;
  now?: () => number;
  /** Told every token endpoint success (metrics). */
  onTokenIssued?: (grantType: string, authMethod: string, clientId: string | undefined) => void;
  /** One-time ids, revocation marks and change notices, shared by every worker and host. */
  shared: SharedState;
  /** Open Banking consents, read with their expiry applied (the consent service). */
  consents: ConsentLookup;
}

export async function createKeyManagerService(deps: KeyManagerDeps): Promise<KeyManagerInternals> {
  const { config, storage, logger } = deps;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const keys = createKeyManager({ keys: storage.keys, meta: storage.meta, now, retireGrace: retireGrace(config) });
  const accounts = createAccountService(config);
  const { cookieKey, clientSecretKey } = await initializeKeyManagerState(storage, config, now);
  const clientSecrets = createClientSecrets(clientSecretKey);
  const adapter = createOidcAdapter(storage.oidc, now, { readClient: clientSecrets.expose });
  const issuers = createTrustedIssuers(config, deps.keySets);
  const consentBinding = createConsentBinding({
    consents: deps.consents,
    now: () => now() * 1000,
    refreshTokenLifetime: config.oauth.token_validity.refresh_token,
  });

  let provider!: Provider;
  let callback!: (req: IncomingMessage, res: ServerResponse) => void;
  let builtVersion = '';
  let nextChangeAt: number | null = null;
  let scopeNames: string[] = [];
  let publicKeys: { keys: JWK[] } = { keys: [] };

  async function build(): Promise<void> {
    const version = (await storage.meta.get(PROVIDER_VERSION_KEY)) ?? '0';
    const jwks = await keys.providerJwks();
    const scopes = (await storage.scopes.list()).map((s) => s.name);
    const retiredScopes = (await retiredScopeNames(storage)).filter((s) => !scopes.includes(s));
    const next = buildProvider({
      config,
      logger,
      adapter,
      jwks,
      cookieKeys: [cookieKey],
      scopes,
      retiredScopes,
      accounts,
      clientCert: deps.clientCert,
      fetch: deps.fetch,
      onTokenIssued: deps.onTokenIssued,
      introspectJwt: (token, caller) => introspectJwt(tokens, token, caller),
      consents: consentBinding,
    });
    useSharedReplayDetection(next, deps.shared);
    registerJwtBearerGrant(next, { config, issuers, replay: deps.shared, scopes, clientCert: deps.clientCert });
    provider = next;
    callback = next.callback() as never;
    builtVersion = version;
    nextChangeAt = jwks.nextChangeAt;
    scopeNames = scopes;
    publicKeys = {
      keys: jwks.keys.map((k) => ({
        ...(createPublicKey(createPrivateKey({ key: k as never, format: 'jwk' })).export({ format: 'jwk' }) as JWK),
        kid: k.kid,
        alg: k.alg,
        use: 'sig',
      })),
    };
  }
  await build();

  const tokens = createTokenVerifier({
    config,
    storage,
    shared: deps.shared,
    provider: () => provider,
    publicJwks: () => publicKeys,
    now,
    // Rebuilt from the database when a token names a key this process has not loaded yet.
    reloadKeys: () => service.refresh(true),
    consents: deps.consents,
  });
  const service: KeyManagerInternals = {
    get provider() {
      return provider;
    },
    tokens,
    accounts,
    keys,
    clientSecrets,
    handle: (req, res) => withClientRecords(req, () => callback(req, res)),
    async refresh(force = false) {
      const version = (await storage.meta.get(PROVIDER_VERSION_KEY)) ?? '0';
      const due = nextChangeAt !== null && now() >= nextChangeAt;
      if (!force && version === builtVersion && !due) return false;
      await build();
      logger.info({ version }, 'key manager configuration reloaded (signing keys or scopes changed)');
      return true;
    },
    scopes: () => scopeNames,
    publicJwks: () => publicKeys,
    async endConsent(consent) {
      await markConsentEnded(deps.shared, config, consent.id, now());
      if (consent.grantId !== null) {
        await storage.oidc.revokeByGrantId(consent.grantId);
        await storage.oidc.destroy('Grant', consent.grantId);
      }
    },
    close() {
      clearInterval(timer);
      unsubscribe();
    },
  };

  // Key rotation and scope changes reach this worker at once through a change notice; the timer
  // is the fallback for a notice missed while the shared state was unreachable.
  const timer = setInterval(() => {
    service.refresh().catch((err: unknown) => logger.warn({ err }, 'could not check for key or scope changes'));
  }, config.oauth.key_rotation.check_interval * 1000);
  timer.unref();
  // Every announced change (rotated keys, scopes) bumps the provider version first: a worker that
  // already built that version (the one that made the change) does not build it again.
  const unsubscribe = await deps.shared.subscribe(CHANNELS.keyManager, () => {
    service.refresh().catch((err: unknown) => logger.warn({ err }, 'could not reload signing keys or scopes'));
  });
  return service;
}
