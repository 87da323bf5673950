/**
 * Composition root: config → storage → TLS material → key manager → app → HTTPS listener.
 * Every long-lived object is created here and handed down; nothing else holds globals.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import { readFileSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.ts';
import { createLogger, type Logger } from './logger.ts';
import { openStorage } from './storage/index.ts';
import type { Storage } from './storage/ports.ts';
import { startExpirySweeper } from './storage/sweeper.ts';
import { ensureSandboxPki } from './tls/sandbox-pki.ts';
import { createTruststore } from './tls/truststore.ts';
import { createTrustAnchors } from './tls/trust-anchors.ts';
import { CHANNELS, describeSharedState, openSharedState, type SharedState } from './shared-state/index.ts';
import { watchSharedState } from './shared-state/watch.ts';
import { createClientCertificateSource } from './http/client-cert.ts';
import { currentRequestLogFields } from './http/front.ts';
import { createOutboundFetch, isAllowedUrl } from './http/outbound.ts';
import { createKeyManagerService, type KeyManagerService } from './oauth/service.ts';
import { buildApp } from './app.ts';
import { createClientService, type ClientService } from './oauth/clients.ts';
import { createJwksCache } from './crypto/jwks.ts';
import { createDcrService } from './dcr/service.ts';
import { createDirectoryTrust } from './dcr/directory-trust.ts';
import { createSandboxStore } from './sandbox/store.ts';
import { createRequestGuard } from './oauth/request-guard.ts';
import { interactionRoutes } from './oauth/interactions/routes.ts';
import { metricsText, processMetrics } from './observability/metrics.ts';
import { instrumentSharedState, instrumentStorage } from './observability/instrument-storage.ts';
import { startMetricsListener } from './observability/metrics-routes.ts';
import { createUsageRecorder } from './observability/usage.ts';
import cluster from 'node:cluster';

const isWorkerProcess = () => cluster.isWorker;
import { limitConnectionsPerAddress } from './http/connection-limits.ts';
import { createPeerMatcher } from './http/trusted-peer.ts';
import { createClientCertificatePolicy } from './dcr/transport-certificate.ts';
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.ts';
import { createCatalogue, seedPlans } from './apim/catalogue.ts';
import { GATEWAY_VERSION_KEY } from './storage/catalogue-records.ts';
import { createKeyManagerAdmin, residentKeyManager } from './apim/key-managers.ts';
import { createTokenResolver } from './gateway/token-resolver.ts';
import { createSessions } from './admin/sessions.ts';
import { CLIENT_NOTICE, openLiveCatalogue } from './gateway/live-catalogue.ts';
import { createIdentitySigner } from './gateway/identity.ts';
import { createBackendProxy } from './gateway/proxy.ts';
import { createGateway, UNMATCHED_API } from './gateway/runtime.ts';
import { backendHostAllowed } from './gateway/backend-hosts.ts';

export interface RunningServer {
  readonly config: Config;
  readonly url: string;
  readonly port: number;
  /** The gateway's own listener port, when [gateway] listeners has "own". */
  readonly gatewayPort: number | undefined;
  /** The management listener's port (console and admin APIs), when [admin] port is set. */
  readonly managementPort: number | undefined;
  readonly storage: Storage;
  /** One-time ids, revocation marks, counters and change notices the hosts share. */
  readonly shared: SharedState;
  readonly keyManager: KeyManagerService;
  readonly clients: ClientService;
  readonly fastify: FastifyInstance;
  readonly logger: Logger;
  /** PEM of the CA that signed the server certificate (sandbox mode), for clients to trust. */
  readonly serverCaPem: string | undefined;
  /** Graceful stop: no new connections, in-flight requests finish, storage closes. */
  close(): Promise<void>;
}

/** Usage counts (console charts): written every 10 s, per-minute rows kept 7 days. */
const USAGE_FLUSH_MS = 10_000;
const USAGE_RETENTION = 7 * 86_400;

// FAPI 1.0 Advanced §8.5: TLS 1.2 limited to these suites (ECDSA twins for EC server keys); TLS 1.3 as is.
const TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
].join(':');

export async function startServer(opts: { config: Config; logger?: Logger }): Promise<RunningServer> {
  const started = performance.now();
  const { config } = opts;
  const logger = opts.logger ?? createLogger(config.log.level, undefined, currentRequestLogFields);
  const { dataDir, truststoreDir } = config.derived;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const metrics = config.metrics.enabled ? processMetrics() : undefined;
  const rawStorage = await openStorage({ url: config.derived.databaseUrl, poolSize: config.database.pool_size, busyTimeoutMs: config.database.busy_timeout });
  // Every storage operation timed and every replayed id counted, without the backends knowing.
  const storage = metrics ? instrumentStorage(rawStorage, metrics) : rawStorage;
  let metricsListener: { close(): Promise<void> } | undefined;
  let shared: SharedState | undefined;
  try {
    // Replay ids, revocation marks, counters and change notices: every worker and host (README "Shared state").
    shared = await openSharedState(config);
    const watched = watchSharedState(shared, logger, describeSharedState(config));
    const sharedState = metrics ? instrumentSharedState(watched, metrics) : watched;
    let cert: string;
    let key: string;
    let serverCaPem: string | undefined;
    if (config.keystore.tls.cert_file && config.keystore.tls.key_file) {
      cert = readFileSync(config.keystore.tls.cert_file, 'utf8');
      key = readFileSync(config.keystore.tls.key_file, 'utf8');
    } else {
      const pki = await ensureSandboxPki({ dataDir, truststoreDir, hostname: config.server.hostname });
      if (pki.created) logger.info({ dir: `${dataDir}/pki` }, 'sandbox: generated a development CA and server certificate');
      cert = pki.serverCertPem;
      key = pki.serverKeyPem;
      serverCaPem = pki.caCertPem;
    }

    // Trusted CAs: the database's (the cluster's) and the folder's (this host's).
    const truststore = createTruststore(truststoreDir);
    const anchors = createTrustAnchors({ folder: truststore, store: storage.trustAnchors });
    let caPems = await anchors.loadCaPems();
    if (caPems.length === 0 && config.server.mode === 'production') {
      logger.warn(
        { truststore_dir: truststoreDir },
        'no CA is trusted for client certificates yet (none in the database, none in the trust store folder): every client certificate is refused until one is added with `opendcr truststore add`',
      );
    }
    const clientCerts = createClientCertificateSource({
      header: config.apimgt.mutual_ssl.client_certificate_header,
      encoded: config.apimgt.mutual_ssl.client_certificate_encode,
      trustedProxies: config.apimgt.mutual_ssl.trusted_proxies,
      getCaPems: () => caPems,
    });

    const fetch = createOutboundFetch({
      allowedHosts: config.derived.outboundHosts,
      extraCaPems: serverCaPem ? [serverCaPem] : [],
    });

    const clientCert = (req: import('node:http').IncomingMessage) => clientCerts.fromRequest(req);
    // Remote key sets (directory, software, trusted issuers): same allow-list, with the DCR limits on time and size.
    const cacheCfg = config.open_banking.dcr.jwks_cache;
    const keySetFetch = createOutboundFetch({
      allowedHosts: config.derived.outboundHosts,
      extraCaPems: serverCaPem ? [serverCaPem] : [],
      timeoutMs: cacheCfg.timeout,
      maxBytes: cacheCfg.max_bytes,
    });
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
    const keyManager = await createKeyManagerService({
      config,
      logger,
      storage,
      shared: sharedState,
      clientCert,
      fetch,
      keySets,
      onTokenIssued: (grant, method, clientId) => {
        metrics?.tokenIssued(grant, method);
        usage.token(grant, clientId);
      },
    });
    const clients = createClientService({ keyManager, storage, shared: sharedState, config });

    // Sandbox mode: this server is also the sandbox directory's keystore (`opendcr sandbox init`).
    const sandbox =
      config.server.mode === 'sandbox'
        ? createSandboxStore(dataDir, { onInvalid: (path) => logger.warn({ path }, 'unreadable sandbox TPP skipped') })
        : undefined;
    // The gateway: its catalogue (durable, announced on every change), the live route snapshot of
    // this worker, the backend pools and the identity key (README "Gateway").
    await seedPlans(storage);
    await storage.gateway.ensureKeyManagers([residentKeyManager(config.derived.issuer, Math.floor(Date.now() / 1000))]);
    const announceGateway = (message: string) => sharedState.publish(CHANNELS.gateway, message);
    const live = await openLiveCatalogue({
      storage,
      shared: sharedState,
      logger,
      checkInterval: config.gateway.check_interval,
      subscriptionTtl: config.gateway.subscription_cache_ttl,
      maxCached: 100_000,
    });
    // The worker that made a change serves it before answering; the others on the notice.
    const notifyCatalogue = async () => {
      await live.refresh();
      await announceGateway('catalogue').catch((err: unknown) =>
        logger.warn({ err }, 'could not announce the gateway catalogue change; other hosts see it at their next check'),
      );
    };
    const catalogue = createCatalogue({ storage, allowBackend: backendHostAllowed(config), notify: notifyCatalogue });
    const identity = await createIdentitySigner({
      storage,
      issuer: `${config.derived.issuer.replace(/\/$/, '')}/gateway`,
      lifetime: config.gateway.identity_lifetime,
    });
    const keyManagerAdmin = createKeyManagerAdmin({
      storage,
      fetch,
      notify: async () => {
        await storage.meta.increment(GATEWAY_VERSION_KEY);
        await notifyCatalogue();
      },
      self: { issuer: config.derived.issuer, baseUrl: config.derived.baseUrl },
      allowedUrl: (url) => isAllowedUrl(url, { allowedHosts: config.derived.outboundHosts }),
      ownKeys: () => [...keyManager.publicJwks().keys, ...identity.jwks.keys],
    });
    const proxy = createBackendProxy({
      connectTimeoutMs: config.gateway.backend_connect_timeout,
      timeoutMs: config.gateway.backend_timeout,
      connections: config.gateway.backend_connections,
      keepAliveMs: config.gateway.backend_keep_alive,
      maxRequestBody: config.gateway.max_request_body,
      maxResponseBody: config.gateway.max_response_body,
    });
    const gateway =
      config.gateway.enabled && config.server.roles.includes('gateway')
        ? createGateway({
            config,
            logger,
            live,
            shared: sharedState,
            clientCert,
            proxy,
            identity,
            idempotency: storage.gateway,
            keySets,
            resolver: createTokenResolver({ config, verifier: keyManager.tokens, keySets, fetch, keyManagers: () => live.current().keyManagers }),
            observe: (api, outcome, code) => {
              metrics?.gateway(api, outcome, code);
              if (api !== UNMATCHED_API) usage.gateway(api, code);
            },
          })
        : undefined;

    const dcr = createDcrService({
      config,
      logger,
      storage,
      keyManager,
      clients,
      keySets,
      trust: createDirectoryTrust(config, sandbox),
      subscriptionsChanged: (clientId) => announceGateway(`${CLIENT_NOTICE}${clientId}`),
      ...(metrics ? { observe: metrics.dcr } : {}),
    });
    const sweeper = startExpirySweeper(storage, {
      intervalMs: 60_000,
      now: () => Math.floor(Date.now() / 1000),
      onError: (err) => logger.warn({ err }, 'expiry clean-up failed'),
    });

    // Shared ticket keys so a TLS session resumes on any worker or host using the same storage.
    const ticketKeys = Buffer.from(await storage.meta.setIfAbsent('tls_ticket_keys', randomBytes(48).toString('base64')), 'base64');
    const secure = (): SecureContextOptions => ({ cert, key, ca: caPems, ciphers: TLS12_CIPHERS, minVersion: 'TLSv1.2', ticketKeys });

    let accepting = true;
    let server!: Server;
    // Registered clients authenticate only over a certificate their software owns (as at registration).
    const providerGuard = createRequestGuard({
      findClient: clients.find,
      certificatePolicy: createClientCertificatePolicy({ config, keySets }),
      clientCert,
    });
    // A single process serves a separate metrics listener itself; with workers, the primary does.
    if (metrics && config.metrics.port !== undefined && !isWorkerProcess()) {
      metricsListener = await startMetricsListener({ config, logger, text: metricsText });
    }
    // Both listeners (main, and the gateway's own when configured) take the same TLS settings and limits.
    const httpsServer = (listener: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void): Server => {
      const created = createHttpsServer(
        {
          ...secure(),
          // Certificates are requested on every connection and checked per route (FAPI mTLS),
          // so a TPP without one still gets a proper OAuth error instead of a TLS alert.
          requestCert: true,
          rejectUnauthorized: false,
          keepAlive: true,
          // Bounded waits (idle and trickling connections once stayed open for minutes):
          // handshake, headers (an idle new connection included), the whole request, idle keep-alive.
          handshakeTimeout: config.server.tls_handshake_timeout * 1000,
          headersTimeout: config.server.headers_timeout * 1000,
          requestTimeout: config.server.request_timeout * 1000,
          keepAliveTimeout: config.server.keep_alive_timeout * 1000,
          // How often Node checks the header and request timeouts (its default, 30 s, would let them overrun by that much).
          connectionsCheckingInterval: 1000,
          sessionTimeout: 300,
        },
        listener,
      );
      limitConnectionsPerAddress(created, {
        maxPerAddress: config.server.max_connections_per_address,
        exempt: createPeerMatcher(config.apimgt.mutual_ssl.trusted_proxies),
        onRefused: (address, open) =>
          logger.warn({ address, open, limit: config.server.max_connections_per_address }, 'connection refused: too many open connections from one address'),
      });
      return created;
    };
    const ownGatewayListener = gateway !== undefined && config.gateway.listeners.includes('own');
    let gatewayServer: Server | undefined;
    let managementServer: Server | undefined;
    const fastify = await buildApp(
      {
        config,
        logger,
        storage,
        keyManager,
        dcr,
        clientCert,
        providerGuard,
        interactions: interactionRoutes(keyManager, config),
        sandbox,
        isAccepting: () => accepting,
        metrics,
        metricsText,
        shared: sharedState,
        gateway,
        catalogue,
        keyManagerAdmin,
        identityJwks: identity.jwks,
        anchors,
        keySets,
        clients,
        usage,
        serverCaPem,
        sessions: await createSessions({
          storage,
          shared: sharedState,
          idleSeconds: config.admin.session_idle_timeout,
          lifetimeSeconds: config.admin.session_lifetime,
        }),
        // This worker applies the change before answering; the others on the notice.
        announce: async (what) => {
          if (what === 'keys') await keyManager.refresh();
          else await reloadTrust('admin API');
          await sharedState
            .publish(what === 'keys' ? CHANNELS.keyManager : CHANNELS.trust, what)
            .catch((err: unknown) => logger.warn({ err }, 'could not announce the change; other hosts see it at their next check'));
        },
      },
      {
        serverFactory: (listener) => {
          server = httpsServer(listener);
          return server;
        },
        ...(ownGatewayListener ? { gatewayServerFactory: (listener: Parameters<typeof httpsServer>[0]) => (gatewayServer = httpsServer(listener)) } : {}),
        ...(config.admin.port !== undefined
          ? { managementServerFactory: (listener: Parameters<typeof httpsServer>[0]) => (managementServer = httpsServer(listener)) }
          : {}),
      },
    );

    // A trust change (the folder here, or the database from any host) reloads the TLS context;
    // the timer catches a notice missed while the shared state was unreachable.
    const reloadTrust = async (why: string) => {
      const pems = await anchors.loadCaPems();
      if (pems.join('\n') === caPems.join('\n')) return;
      caPems = pems;
      server.setSecureContext(secure());
      gatewayServer?.setSecureContext(secure());
      managementServer?.setSecureContext(secure());
      logger.info({ count: pems.length, why }, 'trust store reloaded');
    };
    const reloadTrustQuietly = (why: string) => {
      reloadTrust(why).catch((err: unknown) => logger.warn({ err }, 'could not reload the trust store'));
    };
    const watcher = truststore.watch(() => reloadTrustQuietly('folder'));
    const trustTimer = setInterval(() => reloadTrustQuietly('timer'), config.oauth.key_rotation.check_interval * 1000);
    trustTimer.unref();
    const unsubscribeTrust = await sharedState.subscribe(CHANNELS.trust, () => reloadTrustQuietly('notice'));

    // Fastify would log http:// (it does not know the server is HTTPS); the 'ready' line below has the real URL.
    await fastify.listen({
      host: config.server.bind_address,
      port: config.server.port,
      listenTextResolver: (address) => `listener bound at ${address.replace(/^https?:\/\//, '')}`,
    });
    const port = (server.address() as AddressInfo).port;
    const listenOn = async (own: Server, port: number, host: string): Promise<number> => {
      await new Promise<void>((resolve, reject) => {
        own.once('error', reject);
        own.listen(port, host, () => {
          own.off('error', reject);
          resolve();
        });
      });
      return (own.address() as AddressInfo).port;
    };
    let gatewayPort: number | undefined;
    if (gatewayServer) {
      gatewayPort = await listenOn(gatewayServer, config.gateway.port, config.server.bind_address);
      logger.info({ port: gatewayPort }, 'gateway listener bound');
    }
    let managementPort: number | undefined;
    if (managementServer) {
      managementPort = await listenOn(managementServer, config.admin.port!, config.admin.bind_address);
      logger.info({ address: `${config.admin.bind_address}:${managementPort}` }, 'management listener bound (console and admin APIs)');
    }
    const url = config.server.port === 0 ? `https://${config.server.hostname}:${port}` : config.derived.baseUrl;
    logger.info({ url, mode: config.server.mode, storage: storage.kind, startup_ms: Math.round(performance.now() - started) }, 'ready');
    writeRuntimeFile(config, url, port, serverCaPem !== undefined);

    let closing: Promise<void> | undefined;
    return {
      config,
      url,
      port,
      gatewayPort,
      managementPort,
      storage,
      shared: sharedState,
      keyManager,
      fastify,
      logger,
      serverCaPem,
      clients,
      close() {
        closing ??= (async () => {
          accepting = false;
          removeRuntimeFile(config, port);
          watcher.close();
          clearInterval(trustTimer);
          unsubscribeTrust();
          sweeper.stop();
          keyManager.close();
          live.close();
          const force = setTimeout(() => {
            server.closeAllConnections();
            gatewayServer?.closeAllConnections();
            managementServer?.closeAllConnections();
          }, config.server.shutdown_timeout * 1000);
          force.unref();
          const ownClosed = gatewayServer ? new Promise<void>((resolve) => gatewayServer!.close(() => resolve())) : Promise.resolve();
          gatewayServer?.closeIdleConnections();
          const managementClosed = managementServer ? new Promise<void>((resolve) => managementServer!.close(() => resolve())) : Promise.resolve();
          managementServer?.closeIdleConnections();
          await fastify.close();
          await ownClosed;
          await managementClosed;
          clearTimeout(force);
          await fetch.close();
          await keySetFetch.close();
          await proxy.close();
          await usage.close().catch((err: unknown) => logger.warn({ err }, 'could not write the last usage counts'));
          await metricsListener?.close();
          await sharedState.close();
          await storage.close();
          logger.info('stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    await metricsListener?.close().catch(() => undefined);
    await shared?.close().catch(() => undefined);
    await storage.close().catch(() => undefined);
    throw err;
  }
}
