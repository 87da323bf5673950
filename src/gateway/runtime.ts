/**
 * The gateway's runtime path for one API call: the steps of src/gateway/steps/, in order, the
 * first failure answering (README.md "Gateway" lists them and docs/errors.md their codes). Each
 * step passes, adds to the call, or throws a coded error; src/gateway/answer.ts turns the error
 * into the OB shape (401 with no body and a Bearer challenge). This file only wires the steps'
 * dependencies once and runs them. Nothing here writes durable state: a refused call changes
 * nothing but its throttling counters.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.ts';
import type { EventPolling } from '../consent/events.ts';
import type { ConsentService } from '../consent/service.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { AppError, fail } from '../errors/app-error.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import { requestContext } from '../http/front.ts';
import type { Logger } from '../logger.ts';
import type { SharedState } from '../shared-state/ports.ts';
import type { GatewayStore } from '../storage/ports.ts';
import { afterRequestBody, sendOAuthError, sendObError } from './answer.ts';
import { backendHostAllowed } from './backend-hosts.ts';
import type { IdentitySigner } from './identity.ts';
import type { LiveCatalogue } from './live-catalogue.ts';
import type { BackendProxy } from './proxy.ts';
import { createTokenCache } from './token-cache.ts';
import type { TokenResolver } from './token-resolver.ts';
import { authenticate } from './steps/authenticate.ts';
import { authorize } from './steps/authorize.ts';
import { type Call, newCall, UNMATCHED_API } from './steps/call.ts';
import { certificate } from './steps/certificate.ts';
import { consent, createConsentCache } from './steps/consent.ts';
import { type ForwardDeps, forward, gatewaySetHeaders } from './steps/forward.ts';
import { internalDcr } from './steps/internal-dcr.ts';
import { requestRules } from './steps/request-rules.ts';
import { route } from './steps/route.ts';
import { subscription } from './steps/subscription.ts';
import { throttle } from './steps/throttle.ts';

export { UNMATCHED_API };

export interface GatewayDeps {
  config: Config;
  logger: Logger;
  live: LiveCatalogue;
  /** Finds the key manager that owns a token and has it checked (resident: the key manager's verifier). */
  resolver: TokenResolver;
  /** Throttling counters (the revocation marks are the resident key manager's, read through the resolver). */
  shared: Pick<SharedState, 'count'>;
  clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
  proxy: BackendProxy;
  identity: IdentitySigner;
  /** Where idempotency keys and first responses are kept (the database: every host sees them). */
  idempotency: Pick<GatewayStore, 'claimIdempotency' | 'completeIdempotency' | 'releaseIdempotency' | 'abandonIdempotency'>;
  /** Software key sets, for x-jws-signature. */
  keySets: Pick<JwksCache, 'keySet'>;
  /** The consent resources of APIs that serve their consents here, and the consents PSU tokens are held to. */
  consents: Pick<ConsentService, 'serve' | 'current' | 'consume' | 'reserveVrpPayment' | 'releaseVrpPayment'>;
  /** The Events API's aggregated polling of those APIs. */
  events: Pick<EventPolling, 'poll'>;
  now?: () => number;
  /** Told each call's API, outcome and status (metrics). */
  observe?: (api: string, outcome: 'ok' | 'rejected', code: string | null) => void;
}

type Next = (req: IncomingMessage, res: ServerResponse) => void;

export interface Gateway {
  /**
   * Takes the request when its path lies under a served API's context and returns true; false
   * leaves it to the rest of the server. `next` serves an operation whose backend is in process
   * (the built-in DCR API) once the gateway's checks have passed.
   */
  handle(req: IncomingMessage, res: ServerResponse, next: Next): boolean;
  /** The OB 404 for a path no served API owns (the gateway's own listener). */
  notFound(res: ServerResponse): void;
  /**
   * For a request about to be answered 404: catches up with the catalogue (an API just published
   * through another worker or host) and takes the request if its path is now served.
   */
  handleLate(req: IncomingMessage, res: ServerResponse, next: Next): Promise<boolean>;
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, live } = deps;
  const cfg = config.gateway;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));

  // Each step's dependencies, made once.
  const tokens = createTokenCache({ maxEntries: 50_000, maxAgeMs: 60_000 });
  live.onClientChanged((clientId) => tokens.forgetClient(clientId));
  const certificates = { clientCert: deps.clientCert };
  const tokenCheck = { resolver: deps.resolver, tokens };
  const subscriptions = { live };
  const limits = { shared: deps.shared };
  const dcrApi = { shared: deps.shared, clientCert: deps.clientCert };
  const consents = { consents: deps.consents, cache: createConsentCache({ maxEntries: 50_000, maxAgeMs: 60_000 }), now: () => now() * 1000 };
  const backend: ForwardDeps = {
    proxy: deps.proxy,
    identity: deps.identity,
    keySets: deps.keySets,
    allowedBackend: backendHostAllowed(config),
    identityHeader: cfg.identity_header,
    gatewaySet: gatewaySetHeaders(config),
    publicHost: new URL(config.derived.baseUrl).host,
    maxRequestBody: cfg.max_request_body,
    jwsTrustAnchor: cfg.jws_trust_anchor,
    clockTolerance: config.oauth.clock_tolerance,
    now,
    consents: deps.consents,
    events: deps.events,
    idempotency: {
      store: deps.idempotency,
      logger: deps.logger,
      now,
      // A claimed key is held while its call may still be running, then freed for a retry.
      leaseSeconds: Math.ceil((cfg.backend_connect_timeout + cfg.backend_timeout) / 1000) + cfg.idempotency_lease_margin,
      window: cfg.idempotency_window,
    },
  };

  // The steps, in order. A plain sequence rather than an array of middleware: a step that needs
  // no wait is called without one, so a call costs no more awaits than its I/O needs.
  async function run(call: Call, next: Next): Promise<void> {
    const routed = route(call); // path checked once; operation; lifecycle: 400/404/405/503
    if (routed.dcr) {
      await internalDcr(dcrApi, routed, next); // the plan's throttling, then the DCR service's own checks (RFC 7591)
      return;
    }
    const certified = certificate(certificates, routed); // transport certificate: 401
    const caller = await authenticate(tokenCheck, certified); // token, its key manager, its binding: 401
    authorize(caller); // flow, scopes, roles: 403
    const subscribed = await subscription(subscriptions, caller); // the application's subscription: 403
    await throttle(limits, subscribed); // plan, burst and operation limits: 429
    const checked = requestRules(subscribed); // OB request rules: 400/406/415
    await consent(consents, checked); // a PSU token's consent: type, permission, account: 401/403
    await forward(backend, checked); // the backend's answer; 400/413 on the body (a body that must repeat its consent), 502/504
  }

  function refused(call: Call, err: unknown): void {
    afterRequestBody(call.req, () => {
      const code = call.dcr ? sendOAuthError(call.res, err) : sendObError(call.res, err, call.interactionId);
      if (call.ctx) call.ctx.code = code;
      if (!(err instanceof AppError) || err.status >= 500) deps.logger.warn({ err, code }, 'gateway call failed');
      deps.observe?.(call.api, 'rejected', code);
    });
  }

  return {
    handle(req, res, next) {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const snapshot = live.current();
      if (!snapshot.owns(path)) return false;
      const call = newCall(req, res, requestContext(res), snapshot, path, q === -1 ? '' : url.slice(q));
      run(call, next)
        .then(() => deps.observe?.(call.api, 'ok', null))
        .catch((err: unknown) => refused(call, err));
      return true;
    },
    async handleLate(req, res, next) {
      try {
        await live.catchUp();
      } catch (err) {
        deps.logger.warn({ err }, 'could not check the gateway catalogue version; answering with the routes held');
        return false;
      }
      return this.handle(req, res, next);
    },
    notFound(res) {
      const ctx = requestContext(res);
      const err = fail('GATEWAY_ROUTE_NOT_FOUND', 'no API is published under this path');
      if (ctx) {
        ctx.route = '(gateway: no API)';
        ctx.code = sendObError(res, err, ctx.interactionId);
      } else {
        sendObError(res, err, '');
      }
    },
  };
}
