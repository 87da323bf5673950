/**
 * Composition root of one process: state → TLS → trust → services → API manager → app →
 * listeners, each built by its module in src/compose, which registers how to close what it built.
 * Closing runs those steps in reverse (src/compose/scope.ts), so the listeners drain before the
 * services they call stop and the storage closes last. Nothing else holds globals.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { openApiManager } from './compose/gateway.ts';
import { createListeners, openMetricsListener } from './compose/listeners.ts';
import { createScope } from './compose/scope.ts';
import { openServices } from './compose/services.ts';
import { openState } from './compose/state.ts';
import { serverTls } from './compose/tls.ts';
import { openTrust } from './compose/trust.ts';
import type { Config } from './config/schema.ts';
import { currentRequestLogFields } from './http/front.ts';
import { createLogger, type Logger } from './logger.ts';
import type { ClientService } from './oauth/clients.ts';
import type { KeyManagerService } from './oauth/service.ts';
import { metricsText } from './observability/metrics.ts';
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.ts';
import { CHANNELS, type SharedState } from './shared-state/index.ts';
import type { Storage } from './storage/ports.ts';

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

/**
 * `now`: the clock of every part of the server, in epoch seconds (default the system clock);
 * handed to each part that reads the time, so a test can run a whole server at another time.
 */
export async function startServer(opts: { config: Config; logger?: Logger; now?: () => number }): Promise<RunningServer> {
  const started = performance.now();
  const { config } = opts;
  const logger = opts.logger ?? createLogger(config.log.level, undefined, currentRequestLogFields);
  const scope = createScope(logger);
  try {
    const state = await openState(config, logger, scope, opts.now ?? (() => Math.floor(Date.now() / 1000)));
    const { storage, shared, metrics } = state;
    const tls = await serverTls(config, logger, storage);
    const trust = await openTrust({ config, logger, storage, shared, tls, scope });
    const services = await openServices({ config, logger, state, trust, serverCaPem: tls.serverCaPem, scope });
    const { keyManager } = services;
    const apim = await openApiManager({ config, logger, state, trust, services, scope });
    await openMetricsListener({ config, logger, text: metricsText, scope });
    const listeners = createListeners({
      config,
      logger,
      tls,
      trust,
      ownGateway: apim.gateway !== undefined && config.gateway.listeners.includes('own'),
      scope,
    });
    let accepting = true;
    const fastify = await buildApp(
      {
        config,
        logger,
        storage,
        shared,
        metrics,
        metricsText,
        keyManager,
        dcr: services.dcr,
        clients: services.clients,
        keySets: services.keySets,
        usage: services.usage,
        sessions: services.sessions,
        providerGuard: services.providerGuard,
        sandbox: services.sandbox,
        clientCert: trust.clientCert,
        anchors: trust.anchors,
        interactions: services.interactions,
        access: services.access,
        consents: services.consents,
        now: state.now,
        isAccepting: () => accepting,
        gateway: apim.gateway,
        catalogue: apim.catalogue,
        keyManagerAdmin: apim.keyManagerAdmin,
        identityJwks: apim.identityJwks,
        serverCaPem: tls.serverCaPem,
        // This worker applies the change before answering; the others on the notice.
        announce: async (what) => {
          if (what === 'keys') await keyManager.refresh();
          else await trust.reload('admin API');
          await shared
            .publish(what === 'keys' ? CHANNELS.keyManager : CHANNELS.trust, what)
            .catch((err: unknown) => logger.warn({ err }, 'could not announce the change; other hosts see it at their next check'));
        },
      },
      listeners.factories,
    );
    await trust.watch();
    const { port, gatewayPort, managementPort } = await listeners.listen(fastify);
    const url = config.server.port === 0 ? `https://${config.server.hostname}:${port}` : config.derived.baseUrl;
    logger.info({ url, mode: config.server.mode, storage: storage.kind, startup_ms: Math.round(performance.now() - started) }, 'ready');
    writeRuntimeFile(config, url, port, tls.serverCaPem !== undefined);
    // Closed first: in-flight requests finish, new ones (keep-alive connections) are turned away.
    scope.defer('accepting', () => {
      accepting = false;
      removeRuntimeFile(config, port);
    });
    const close = async () => {
      await scope.close();
      logger.info('stopped');
    };
    let closing: Promise<void> | undefined;
    return {
      config,
      url,
      port,
      gatewayPort,
      managementPort,
      storage,
      shared,
      keyManager,
      clients: services.clients,
      fastify,
      logger,
      serverCaPem: tls.serverCaPem,
      close: () => {
        closing ??= close();
        return closing;
      },
    };
  } catch (err) {
    await scope.close();
    throw err;
  }
}
