/**
 * buildApp(deps): the HTTP application without listening. Every request passes the front first
 * (http/front.ts: interaction id, request id, trace context, access log, metrics); then
 * oidc-provider's protocol paths go to the provider's handler (through the request guard), so the
 * token endpoint pays for no second framework, and Fastify serves our own routes (health, metrics,
 * admin APIs, PSU interactions, DCR, sandbox).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Config } from './config/schema.ts';
import type { Logger } from './logger.ts';
import type { Storage } from './storage/ports.ts';
import type { KeyManagerService } from './oauth/service.ts';
import { sendError, toErrorResponse, writeClientError } from './errors/to-response.ts';
import { createFront, interactionIdOf, requestContext } from './http/front.ts';
import { isManagementPath, within } from './http/surfaces.ts';
import { errorHandler } from './http/error-handler.ts';
import type { Metrics } from './observability/metrics.ts';
import { CHANNELS, type SharedState } from './shared-state/ports.ts';
import { metricsRoutes } from './observability/metrics-routes.ts';
import type { RequestGuard } from './oauth/request-guard.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from './http/json-limits.ts';
import { fail } from './errors/app-error.ts';
import { providerPathFor, providerRouteTemplate } from './oauth/routes.ts';
import { scopeRoutes } from './admin/scopes.ts';
import { CONSENT_ACCESS, SELF_ACCESS, createAdminGuard } from './admin/admin-auth.ts';
import { createTppLookup } from './admin/tpp-lookup.ts';
import { createPasswordThrottle } from './admin/password-throttle.ts';
import { createPeerMatcher } from './http/trusted-peer.ts';
import type { ClientCertificate } from './http/client-cert.ts';
import type { DcrService } from './dcr/service.ts';
import { dcrRoutes } from './dcr/routes.ts';
import type { SandboxStore } from './sandbox/store.ts';
import { sandboxRoutes } from './sandbox/routes.ts';
import type { Gateway } from './gateway/runtime.ts';
import type { Catalogue } from './apim/catalogue.ts';
import type { KeyManagerAdmin } from './apim/key-managers.ts';
import { gatewayAdminRoutes } from './apim/admin-routes.ts';
import { IDENTITY_JWKS_PATH } from './gateway/identity.ts';
import { operationsRoutes } from './admin/operations-routes.ts';
import { consentRoutes } from './admin/consent-routes.ts';
import type { ConsentService } from './consent/service.ts';
import { sessionRoutes } from './admin/session-routes.ts';
import type { Sessions } from './admin/sessions.ts';
import type { TrustAnchors } from './tls/trust-anchors.ts';
import type { JwksCache } from './crypto/jwks.ts';
import type { ClientService } from './oauth/clients.ts';
import type { UsageRecorder } from './observability/usage.ts';
import { consoleApiRoutes } from './admin/console-api.ts';
import { sandboxApiRoutes } from './admin/sandbox-api.ts';
import { consoleRoutes } from './admin/console-routes.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  storage: Storage;
  keyManager: KeyManagerService;
  dcr: DcrService;
  /** Present in sandbox mode only: the sandbox directory this server publishes. */
  sandbox: SandboxStore | undefined;
  /** The transport certificate of a request (TLS, or a trusted proxy's header). */
  clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
  /** Checks requests for oidc-provider's paths before the provider sees them. */
  providerGuard: RequestGuard;
  /** The PSU login and consent pages (src/oauth/interactions), built where the provider is known. */
  interactions: (app: FastifyInstance) => Promise<void>;
  /** The customer's access dashboard (src/oauth/access). */
  access: (app: FastifyInstance) => Promise<void>;
  /** Open Banking consents, for the operations API. */
  consents: ConsentService;
  /** Set to false while shutting down so /ready tells the load balancer to stop sending. */
  isAccepting: () => boolean;
  /** This process's metrics; undefined when [metrics] enabled is false. */
  metrics: Metrics | undefined;
  /** The exposition text of the whole server (aggregated across workers), for GET /metrics. */
  metricsText: () => Promise<string>;
  /** The shared state (readiness; change notices for the scope API; the administrator password throttle). */
  shared: SharedState;
  /** The gateway (gateway role): it takes the paths of served APIs on the listeners [gateway] listeners names. */
  gateway: Gateway | undefined;
  /** The gateway catalogue and key managers, for their admin REST APIs. */
  catalogue: Catalogue;
  keyManagerAdmin: KeyManagerAdmin;
  /** The trust anchors (database and folder), for the operations API. */
  anchors: TrustAnchors;
  /** Admin console sessions (cookie, CSRF, logout). */
  sessions: Sessions;
  /** Applies a trust store or signing key change in this worker and tells the others (operations API). */
  announce: (what: 'trust' | 'keys') => Promise<void>;
  /** Public key set of the gateway's identity JWTs, published at /gateway/jwks.json. */
  identityJwks: { keys: unknown[] };
  /** The server's one clock, in epoch seconds. */
  now: () => number;
  /** For the console's views (status, usage, registration detail): remote key sets, clients, usage counts. */
  keySets: JwksCache;
  clients: ClientService;
  usage: UsageRecorder;
  /** PEM of the CA of the server certificate (sandbox mode), put in sandbox TPP bundles. */
  serverCaPem: string | undefined;
}

const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded'];

/** Passes the raw Node listener that should serve all requests to whoever creates the server. */
export type ServerFactory = (listener: (req: IncomingMessage, res: ServerResponse) => void) => import('node:net').Server;

const pathOf = (url: string | undefined): string => {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
};

export async function buildApp(
  deps: AppDeps,
  opts: { serverFactory?: ServerFactory; gatewayServerFactory?: ServerFactory; managementServerFactory?: ServerFactory } = {},
): Promise<FastifyInstance> {
  const { config, storage, keyManager } = deps;
  const isKeyManager = config.server.roles.includes('key_manager');
  const mainGateway = config.gateway.listeners.includes('main') ? deps.gateway : undefined;
  // HTTP Basic as [super_admin] (scripts, the command line) or a console session; one password
  // throttle for Basic and the console's login, on every listener.
  const throttle = createPasswordThrottle({ config, shared: deps.shared, logger: deps.logger.child({ component: 'admin-auth' }) });
  const guardDeps = { config, sessions: deps.sessions, throttle };
  const requireAdmin = createAdminGuard(guardDeps);
  // Customer care reaches the consents and its own session only.
  const requireConsentStaff = createAdminGuard(guardDeps, CONSENT_ACCESS);
  const requireSelf = createAdminGuard(guardDeps, SELF_ACCESS);
  const { isAccepting } = deps;
  const isProxy = createPeerMatcher(config.apimgt.mutual_ssl.trusted_proxies);

  /** What every request on every listener goes through first; false when it was answered. */
  const admit = (req: IncomingMessage, res: ServerResponse): boolean => {
    // Shutting down: in-flight requests finish, new ones (keep-alive connections) are turned away.
    if (!isAccepting()) {
      res.setHeader('connection', 'close');
      sendError(res, fail('SHUTTING_DOWN', 'the server is shutting down; retry on another instance'));
      return false;
    }
    // X-Forwarded-* is only believed from a configured load balancer.
    if (!isProxy(req.socket.remoteAddress)) {
      for (const h of FORWARDED) delete req.headers[h];
    }
    return true;
  };

  // oidc-provider's protocol paths go to the provider before any Fastify work; the rest to Fastify.
  const ownManagement = config.admin.port !== undefined;
  const dispatch = (fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse) => {
    if (!admit(req, res)) return;
    // With a management listener, the console and the admin APIs are not on this one.
    if (ownManagement && isManagementPath(pathOf(req.url))) {
      sendError(res, fail('NOT_FOUND', 'no such endpoint'));
      return;
    }
    // Paths under a served API's context belong to the gateway (which hands the in-process DCR API back).
    if (mainGateway?.handle(req, res, fastifyHandler)) return;
    const providerUrl = isKeyManager ? providerPathFor(req.url ?? '/') : undefined;
    if (providerUrl !== undefined) {
      req.url = providerUrl;
      const path = pathOf(providerUrl);
      const ctx = requestContext(res);
      if (ctx) ctx.route = providerRouteTemplate(path);
      deps
        .providerGuard(req, res, path)
        .then((checked) => {
          if (checked) keyManager.handle(checked, res);
        })
        .catch((err: unknown) => sendError(res, err));
      return;
    }
    fastifyHandler(req, res);
  };

  const observe = deps.metrics
    ? (ctx: { route: string | undefined; method: string; code: string | undefined }, status: number, seconds: number) =>
        deps.metrics!.request(ctx.route ?? '(unmatched)', ctx.method, status, seconds, ctx.code)
    : undefined;
  const front = (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
    createFront(dispatch(handler), { logger: deps.logger, ...(observe ? { observe } : {}) });
  // The gateway's own listener: API calls only; the in-process DCR API is handed to Fastify's router.
  const gatewayFront = (gateway: Gateway) =>
    createFront(
      (req, res) => {
        if (!admit(req, res)) return;
        const next = (r: IncomingMessage, s: ServerResponse) => fastify.routing(r, s);
        if (gateway.handle(req, res, next)) return;
        // Perhaps an API just published through another worker or host: catch up before the 404.
        void gateway.handleLate(req, res, next).then((taken) => {
          if (!taken) gateway.notFound(res);
        });
      },
      { logger: deps.logger, ...(observe ? { observe } : {}) },
    );
  // The management listener ([admin] port): the console and the admin APIs, nothing else.
  const managementFront = () =>
    createFront(
      (req, res) => {
        if (!admit(req, res)) return;
        if (isManagementPath(pathOf(req.url))) fastify.routing(req, res);
        else sendError(res, fail('NOT_FOUND', 'no such endpoint: this is the management listener (console and admin APIs)'));
      },
      { logger: deps.logger, ...(observe ? { observe } : {}) },
    );
  /** A request the HTTP parser refused never reaches the front: it is answered and counted here. */
  const clientError = (err: { code?: string }, socket: import('node:stream').Duplex) => {
    const code = writeClientError(err, socket, { 'x-fapi-interaction-id': interactionIdOf(undefined) });
    if (code) deps.metrics?.request('(unparsed)', 'UNKNOWN', 400, 0, code);
  };

  const fastify = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as never,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    // Every error leaves in our shape: routing errors, parser-level errors, shutting down (dispatch).
    return503OnClosing: false,
    frameworkErrors: (err, _req, reply) => {
      const out = toErrorResponse(err);
      const r = reply as unknown as FastifyReply;
      const ctx = requestContext(r.raw);
      if (ctx) ctx.code = out.code;
      return r
        .code(out.status)
        .headers({ ...out.headers, 'cache-control': 'no-store' })
        .send(out.body);
    },
    clientErrorHandler: (err, socket) => clientError(err as { code?: string }, socket),
    keepAliveTimeout: config.server.keep_alive_timeout * 1000,
    ...(opts.serverFactory ? { serverFactory: (handler: never) => opts.serverFactory!(front(handler)) as never } : {}),
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

  // The route template, for the access log and metrics (the raw path never leaves the front).
  fastify.addHook('onRequest', async (request, reply) => {
    const ctx = requestContext(reply.raw);
    if (ctx) ctx.route = request.routeOptions.url ?? '(not found)';
    // About to be a 404: an API just published through another worker or host may own the path
    // (its notice not here yet). Checked before any body is read, so the gateway can still take it.
    if (request.is404 && mainGateway) {
      reply.hijack();
      const taken = await mainGateway.handleLate(request.raw, reply.raw, (r, res) => fastify.routing(r, res));
      if (!taken) {
        if (ctx) ctx.code = 'NOT_FOUND';
        sendError(reply.raw, fail('NOT_FOUND', 'no such endpoint'));
      }
    }
  });
  fastify.setErrorHandler(errorHandler('oauth'));
  fastify.setNotFoundHandler(() => {
    throw fail('NOT_FOUND', 'no such endpoint');
  });

  // Liveness and readiness in the shapes load balancers and Kubernetes probe; the old paths stay.
  const live = async () => ({ status: 'ok' });
  // Ready when the database and the shared state both answer: a host cut off from either cannot
  // serve tokens safely, so the load balancer should send elsewhere.
  const ready = async (_req: unknown, reply: FastifyReply) => {
    if (!isAccepting()) return reply.code(503).send({ status: 'shutting_down' });
    const [db, sharedOk] = await Promise.all([
      storage.ping().then(
        () => true,
        () => false,
      ),
      deps.shared.ping().then(
        () => true,
        () => false,
      ),
    ]);
    const body = { status: db && sharedOk ? 'ready' : 'unavailable', storage: storage.kind, shared_state: deps.shared.kind };
    if (!db || !sharedOk) {
      return reply.code(503).send({ ...body, unavailable: [...(db ? [] : ['storage']), ...(sharedOk ? [] : ['shared_state'])] });
    }
    return body;
  };
  // The route table (src/http/surfaces.ts): each surface's routes, registered within its paths.
  await within(fastify, 'health', async (app) => {
    app.get('/health', live);
    app.get('/health/live', live);
    app.get('/ready', ready);
    app.get('/health/ready', ready);
  });
  if (config.metrics.enabled && config.metrics.port === undefined) {
    await within(fastify, 'metrics', metricsRoutes({ config, text: deps.metricsText }));
  }
  if (isKeyManager) {
    await within(fastify, 'interactions', deps.interactions);
    await within(fastify, 'psuAccess', deps.access);
  }
  // A scope change rebuilds this worker's key manager at once and tells every other worker and host.
  await within(
    fastify,
    'scopes',
    scopeRoutes({
      storage,
      requireAdmin,
      onChange: async () => {
        await keyManager.refresh(true);
        await deps.shared.publish(CHANNELS.keyManager, 'scopes').catch((err: unknown) => deps.logger.warn({ err }, 'could not announce the scope change'));
      },
    }),
  );
  if (isKeyManager && config.open_banking.dcr.enabled) {
    const dcr = config.open_banking.dcr;
    await within(
      fastify,
      'dcr',
      dcrRoutes({
        dcr: deps.dcr,
        clientCert: deps.clientCert,
        baseUrl: config.derived.baseUrl,
        openApi: { signingAlgorithms: dcr.signing_algorithms, authMethods: dcr.token_endpoint_auth_methods },
      }),
    );
  }
  await within(fastify, 'sessions', sessionRoutes({ config, sessions: deps.sessions, throttle, requireAdmin: requireSelf }));
  await within(fastify, 'operations', operationsRoutes({ storage, anchors: deps.anchors, keys: keyManager.keys, requireAdmin, announce: deps.announce }));
  await within(
    fastify,
    'consents',
    consentRoutes({
      consents: deps.consents,
      tpps: createTppLookup(storage.registrations),
      oidc: storage.oidc,
      now: () => deps.now() * 1000,
      requireAdmin: requireConsentStaff,
    }),
  );
  await within(
    fastify,
    'consoleApi',
    consoleApiRoutes({
      config,
      storage,
      shared: deps.shared,
      keySets: deps.keySets,
      keys: keyManager.keys,
      clients: deps.clients,
      dcr: deps.dcr,
      usage: deps.usage,
      requireAdmin,
    }),
  );
  const sandboxMode = deps.sandbox !== undefined && config.server.mode === 'sandbox';
  if (deps.sandbox && sandboxMode) {
    await within(fastify, 'sandboxApi', sandboxApiRoutes({ config, store: deps.sandbox, serverCaPem: deps.serverCaPem, requireAdmin }));
  }
  if (config.admin.console) await within(fastify, 'console', consoleRoutes({ sandbox: sandboxMode }));
  await within(
    fastify,
    'apiManager',
    gatewayAdminRoutes({ catalogue: deps.catalogue, keyManagers: deps.keyManagerAdmin, requireAdmin, baseUrl: config.derived.baseUrl }),
  );
  const jwks = deps.identityJwks;
  await within(fastify, 'identityKeys', async (app) => {
    app.get(IDENTITY_JWKS_PATH, async (_req, reply) => reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json').send(jwks));
  });
  if (deps.sandbox && sandboxMode) await within(fastify, 'sandboxDirectory', sandboxRoutes(deps.sandbox));
  await fastify.ready();
  if (opts.managementServerFactory) {
    const server = opts.managementServerFactory(managementFront());
    server.on('clientError', (err: { code?: string }, socket: import('node:stream').Duplex) => clientError(err, socket));
  }
  if (opts.gatewayServerFactory && deps.gateway) {
    const server = opts.gatewayServerFactory(gatewayFront(deps.gateway));
    server.on('clientError', (err: { code?: string }, socket: import('node:stream').Duplex) => clientError(err, socket));
  }
  return fastify;
}
