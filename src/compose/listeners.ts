/**
 * The listeners of one process: the main one (every surface the host's roles serve), the
 * gateway's own when [gateway] listeners names "own", the management listener when [admin] port
 * is set, and the plain-HTTP metrics listener when [metrics] port is set (the primary's, with
 * workers). Closing stops new connections, lets in-flight requests finish within
 * [server] shutdown_timeout, then cuts what is left.
 */
import cluster from 'node:cluster';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { startMetricsListener } from '../observability/metrics-routes.ts';
import type { Scope } from './scope.ts';
import type { Listener, ServerTls } from './tls.ts';
import type { Trust } from './trust.ts';

/** The server factories buildApp takes, one per listener this host runs. */
export interface ListenerFactories {
  serverFactory: (listener: Listener) => Server;
  gatewayServerFactory?: (listener: Listener) => Server;
  managementServerFactory?: (listener: Listener) => Server;
}

export interface Bound {
  readonly port: number;
  readonly gatewayPort: number | undefined;
  readonly managementPort: number | undefined;
}

export interface Listeners {
  /** What buildApp needs to create the servers (each one's TLS follows the trusted CAs). */
  readonly factories: ListenerFactories;
  /** Binds every listener the app created; registers their closing in the scope. */
  listen(fastify: FastifyInstance): Promise<Bound>;
}

/** The metrics listener, when [metrics] port is set: a single process serves it, with workers the primary does. */
export async function openMetricsListener(deps: { config: Config; logger: Logger; text: () => Promise<string>; scope: Scope }): Promise<void> {
  const { config } = deps;
  if (!config.metrics.enabled || config.metrics.port === undefined || cluster.isWorker) return;
  const listener = await startMetricsListener({ config, logger: deps.logger, text: deps.text });
  deps.scope.defer('metrics listener', () => listener.close());
}

export function createListeners(deps: { config: Config; logger: Logger; tls: ServerTls; trust: Trust; ownGateway: boolean; scope: Scope }): Listeners {
  const { config, logger, tls, trust } = deps;
  const servers: { main?: Server; gateway?: Server; management?: Server } = {};
  const make = (which: keyof typeof servers) => (listener: Listener) => {
    const server = tls.httpsServer(listener, trust.caPems());
    trust.follow(server);
    servers[which] = server;
    return server;
  };
  const factories: ListenerFactories = {
    serverFactory: make('main'),
    ...(deps.ownGateway ? { gatewayServerFactory: make('gateway') } : {}),
    ...(config.admin.port !== undefined ? { managementServerFactory: make('management') } : {}),
  };
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
  return {
    factories,
    async listen(fastify) {
      const main = servers.main;
      if (!main) throw new Error('the app did not create the main listener');
      deps.scope.defer('listeners', async () => {
        const all = [main, servers.gateway, servers.management].filter((s) => s !== undefined);
        const force = setTimeout(() => {
          for (const s of all) s.closeAllConnections();
        }, config.server.shutdown_timeout * 1000);
        force.unref();
        const others = [servers.gateway, servers.management]
          .filter((s) => s !== undefined)
          .map((s) => {
            const closed = new Promise<void>((resolve) => s.close(() => resolve()));
            s.closeIdleConnections();
            return closed;
          });
        await fastify.close();
        await Promise.all(others);
        clearTimeout(force);
      });
      // Fastify would log http:// (it does not know the server is HTTPS); the 'ready' line has the real URL.
      await fastify.listen({
        host: config.server.bind_address,
        port: config.server.port,
        listenTextResolver: (address) => `listener bound at ${address.replace(/^https?:\/\//, '')}`,
      });
      const port = (main.address() as AddressInfo).port;
      let gatewayPort: number | undefined;
      if (servers.gateway) {
        gatewayPort = await listenOn(servers.gateway, config.gateway.port, config.server.bind_address);
        logger.info({ port: gatewayPort }, 'gateway listener bound');
      }
      let managementPort: number | undefined;
      if (servers.management && config.admin.port !== undefined) {
        managementPort = await listenOn(servers.management, config.admin.port, config.admin.bind_address);
        logger.info({ address: `${config.admin.bind_address}:${managementPort}` }, 'management listener bound (console and admin APIs)');
      }
      return { port, gatewayPort, managementPort };
    },
  };
}
