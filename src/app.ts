/**
 * buildApp(deps): the HTTP application without listening. Fastify serves our own routes (health,
 * admin APIs, PSU interactions); oidc-provider's protocol paths go straight to the provider's
 * handler so the token endpoint pays for no second framework.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Config } from './config/schema.ts';
import type { Logger } from './logger.ts';
import type { Storage } from './storage/ports.ts';
import type { KeyManagerService } from './oauth/service.ts';
import { sendError, toErrorResponse, writeClientError } from './errors/to-response.ts';
import type { RequestGuard } from './oauth/request-guard.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from './http/json-limits.ts';
import { fail } from './errors/app-error.ts';
import { providerPathFor } from './oauth/routes.ts';
import { scopeRoutes } from './admin/scopes.ts';
import { createAdminGuard } from './admin/admin-auth.ts';
import { createPeerMatcher } from './http/trusted-peer.ts';
import type { ClientCertificate } from './http/client-cert.ts';
import type { DcrService } from './dcr/service.ts';
import { dcrRoutes } from './dcr/routes.ts';
import type { SandboxStore } from './sandbox/store.ts';
import { sandboxRoutes } from './sandbox/routes.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  storage: Storage;
  keyManager: KeyManagerService;
  dcr: DcrService;
  /** Present in sandbox mode only: the sandbox directory this server publishes. */
  sandbox?: SandboxStore | undefined;
  /** The transport certificate of a request (TLS, or a trusted proxy's header). */
  clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
  /** Checks requests for oidc-provider's paths before the provider sees them. */
  providerGuard: RequestGuard;
  /** The PSU login and consent pages (src/oauth/interactions), built where the provider is known. */
  interactions: (app: FastifyInstance) => Promise<void>;
  /** Set to false while shutting down so /ready tells the load balancer to stop sending. */
  isAccepting?: () => boolean;
}

const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded'];

/** Passes the raw Node listener that should serve all requests to whoever creates the server. */
export type ServerFactory = (listener: (req: IncomingMessage, res: ServerResponse) => void) => import('node:net').Server;

export async function buildApp(deps: AppDeps, opts: { serverFactory?: ServerFactory } = {}): Promise<FastifyInstance> {
  const { config, storage, keyManager } = deps;
  const isAccepting = deps.isAccepting ?? (() => true);
  const isProxy = createPeerMatcher(config.apimgt.mutual_ssl.trusted_proxies);

  // oidc-provider's protocol paths go to the provider before any Fastify work; the rest to Fastify.
  const dispatch = (fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse) => {
    // Shutting down: in-flight requests finish, new ones (keep-alive connections) are turned away.
    if (!isAccepting()) {
      res.setHeader('connection', 'close');
      sendError(res, fail('SHUTTING_DOWN', 'the server is shutting down; retry on another instance'));
      return;
    }
    // X-Forwarded-* is only believed from a configured load balancer.
    if (!isProxy(req.socket.remoteAddress)) {
      for (const h of FORWARDED) delete req.headers[h];
    }
    const providerUrl = providerPathFor(req.url ?? '/');
    if (providerUrl !== undefined) {
      req.url = providerUrl;
      const q = providerUrl.indexOf('?');
      deps.providerGuard(req, res, q === -1 ? providerUrl : providerUrl.slice(0, q))
        .then((checked) => { if (checked) keyManager.handle(checked, res); })
        .catch((err: unknown) => sendError(res, err));
      return;
    }
    fastifyHandler(req, res);
  };

  const fastify = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as never,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    // Every error leaves in our shape: routing errors, parser-level errors, shutting down (dispatch).
    return503OnClosing: false,
    frameworkErrors: (err, _req, reply) => {
      const out = toErrorResponse(err);
      return (reply as unknown as FastifyReply).code(out.status).headers({ ...out.headers, 'cache-control': 'no-store' }).send(out.body);
    },
    clientErrorHandler: (err, socket) => writeClientError(err as { code?: string }, socket),
    keepAliveTimeout: config.server.keep_alive_timeout * 1000,
    ...(opts.serverFactory ? { serverFactory: (handler: never) => opts.serverFactory!(dispatch(handler)) as never } : {}),
  }) as unknown as FastifyInstance;

  // JSON bodies (the admin APIs) are bounded in nesting before they are parsed.
  // Fastify's own parser then refuses __proto__ and constructor keys as well.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonTooDeep(String(body))) {
      done(fail('JSON_TOO_DEEP', `the JSON body nests more than ${MAX_JSON_DEPTH} levels deep`), undefined);
      return;
    }
    parseJson(req, String(body), done);
  });
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  fastify.setErrorHandler((err, req, reply) => {
    const out = toErrorResponse(err);
    if (out.status >= 500) req.log.error({ err }, 'request failed');
    return reply.code(out.status).headers({ ...out.headers, 'cache-control': 'no-store' }).send(out.body);
  });
  fastify.setNotFoundHandler(() => { throw fail('NOT_FOUND', 'no such endpoint'); });

  fastify.get('/health', async () => ({ status: 'ok' }));
  fastify.get('/ready', async (_req, reply) => {
    if (!isAccepting()) return reply.code(503).send({ status: 'shutting_down' });
    try {
      await storage.ping();
      return { status: 'ready', storage: storage.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', storage: storage.kind });
    }
  });

  await fastify.register(deps.interactions);
  await fastify.register(scopeRoutes({ storage, requireAdmin: createAdminGuard(config) as never, onChange: () => keyManager.refresh(true) }));
  if (config.open_banking.dcr.enabled) {
    const dcr = config.open_banking.dcr;
    await fastify.register(dcrRoutes({
      dcr: deps.dcr, clientCert: deps.clientCert, baseUrl: config.derived.baseUrl,
      openApi: { signingAlgorithms: dcr.signing_algorithms, authMethods: dcr.token_endpoint_auth_methods },
    }));
  }
  if (deps.sandbox && config.server.mode === 'sandbox') await fastify.register(sandboxRoutes(deps.sandbox));
  await fastify.ready();
  return fastify;
}
