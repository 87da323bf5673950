/**
 * The gateway's runtime path for one API call (gateway.md §2; first failure wins): client
 * certificate, route, lifecycle, token, scopes and flow, TPP roles, subscription, throttling, OB
 * request rules, then the backend. Each step is a small named function that passes or throws a coded
 * error; errors leave in the OB shape (OBErrorResponse1), 401 with no body. Nothing here writes
 * durable state: a refused call changes nothing but its throttling counters.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';
import type { Config } from '../config/schema.ts';
import { AppError, bearerError, fail } from '../errors/app-error.ts';
import { ERRORS } from '../errors/codes.ts';
import { sendError, toAppError } from '../errors/to-response.ts';
import { requestContext } from '../http/front.ts';
import { clientCertificateError, type ClientCertificate } from '../http/client-cert.ts';
import type { SharedState } from '../shared-state/ports.ts';
import type { VerifiedToken } from '../oauth/token-verifier.ts';
import type { TokenResolver } from './token-resolver.ts';
import { boundTo, x5tS256 } from '../crypto/thumbprint.ts';
import { psd2Roles } from '../crypto/psd2-roles.ts';
import type { ApiRecord, OperationDef, PlanRecord, RateLimit, SubscriptionRecord } from '../storage/catalogue-records.ts';
import { RESIDENT_KEY_MANAGER, TIME_UNIT_SECONDS } from '../storage/catalogue-records.ts';
import type { LiveCatalogue } from './live-catalogue.ts';
import type { RouteMatch } from './snapshot.ts';
import { mayHaveReachedBackend, type BackendProxy, type ForwardTarget } from './proxy.ts';
import { allowedHeaders, backendHeaders } from './backend-headers.ts';
import { mediaEssence } from '../http/media-type.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../http/json-limits.ts';
import type { IdentitySigner } from './identity.ts';
import { INTERNAL_DCR_BACKEND } from '../storage/catalogue-records.ts';
import { backendHostAllowed } from './backend-hosts.ts';
import type { GatewayStore } from '../storage/ports.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { readBody, requestFingerprint, storedResponse, verifyJwsSignature, type JwsCheck, type StoredResponse } from './ob-rules.ts';
import { createTokenCache } from './token-cache.ts';
import { canonicalPath, checkedQuery } from './path.ts';

/** The API name of a call under a served context that matched no operation (metrics label). */
export const UNMATCHED_API = '(unmatched)';

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
  now?: () => number;
  /** Told each call's API, outcome and status (metrics). */
  observe?: (api: string, outcome: 'ok' | 'rejected', code: string | null) => void;
}

export interface Gateway {
  /**
   * Takes the request when its path lies under a served API's context and returns true; false
   * leaves it to the rest of the server. `next` serves an operation whose backend is in process
   * (the built-in DCR API) once the gateway's checks have passed.
   */
  handle(req: IncomingMessage, res: ServerResponse, next: (req: IncomingMessage, res: ServerResponse) => void): boolean;
  /** The OB 404 for a path no served API owns (the gateway's own listener). */
  notFound(res: ServerResponse): void;
  /**
   * For a request about to be answered 404: catches up with the catalogue (an API just published
   * through another worker or host) and takes the request if its path is now served.
   */
  handleLate(req: IncomingMessage, res: ServerResponse, next: (req: IncomingMessage, res: ServerResponse) => void): Promise<boolean>;
}

/**
 * One call as it goes through the steps. `path` is the raw path until the route step makes it
 * canonical; `body` is what the request rules found: none, JSON (read whole and bounded), other.
 */
interface Call {
  path: string;
  query: string;
  interactionId: string;
  api: string;
  dcr?: boolean;
  body?: 'none' | 'json' | 'other';
}

/**
 * Who is calling, once the token has been checked: the application is the token's key manager and
 * client id together. `roles` are the TPP's: the PSD2 roles of its certificate (eIDAS QWAC, OBWAC)
 * when it carries them, else a resident client's software statement roles (from its
 * registration, never a token claim) or an external client's roles claim (only through its own
 * key manager's claim mapping).
 */
interface Caller {
  token: VerifiedToken;
  raw: string;
  roles: readonly string[];
}

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,40}$/;
/** Methods that take a JSON body on an API imported before request bodies were read from its definition. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const JSON_BODY = { types: ['application/json'] };
const isJsonType = (essence: string) => essence === 'application/json' || (essence.startsWith('application/') && essence.endsWith('+json'));

/** The OBErrorResponse1 body (OB Read/Write API): our code, the interaction id, the OB error code. */
export function obErrorBody(err: AppError, interactionId: string): string {
  const ob = ERRORS[err.code].ob ?? 'UK.OBIE.UnexpectedError';
  return JSON.stringify({
    Code: err.code,
    Id: interactionId,
    Message: err.description,
    Errors: [{ ErrorCode: ob, Message: err.description }],
  });
}

function sendObError(res: ServerResponse, err: unknown, interactionId: string): string {
  const mapped = toAppError(err);
  const e = mapped instanceof AppError ? mapped : fail('SERVER_ERROR', 'the gateway could not process the request');
  if (res.headersSent) {
    res.destroy();
    return e.code;
  }
  const headers: Record<string, string | number> = { ...e.headers, 'cache-control': 'no-store' };
  // RFC 6750 §3.1 / OB: 401 carries a challenge and no body; a refused token's own challenge says why.
  if (e.status === 401) {
    res.writeHead(401, { 'www-authenticate': DEFAULT_CHALLENGE, ...headers, 'content-length': 0 });
    res.end();
    return e.code;
  }
  const body = obErrorBody(e, interactionId);
  res.writeHead(e.status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return e.code;
}

/** An error on the DCR API, in its own RFC 7591 shape. */
function sendOAuthError(res: ServerResponse, err: unknown): string {
  sendError(res, err);
  const e = toAppError(err);
  return e instanceof AppError ? e.code : 'PROVIDER_ERROR';
}

/** The challenge of a 401 whose error carries none (a client certificate refused). */
const DEFAULT_CHALLENGE = 'Bearer realm="opendcr", error="invalid_token"';

/**
 * Whose x-idempotency-keys a call uses: the application, a key manager and a client id together
 * (a resident client by its id alone, as before key managers were told apart: its ids are
 * generated and never hold a newline, which no key manager's name holds either).
 */
const idempotencyOwner = (t: VerifiedToken): string => (t.keyManager === RESIDENT_KEY_MANAGER ? t.clientId : `${t.keyManager}\n${t.clientId}`);

/**
 * Runs `answer` once the caller has sent its whole request: a refusal sent mid-upload would reach
 * most clients as a cut connection. The rest of the body is read and dropped (never kept); the
 * server's request_timeout bounds how long that may take.
 */
function afterRequestBody(req: IncomingMessage, answer: () => void): void {
  if (req.complete || req.destroyed) {
    answer();
    return;
  }
  let done = false;
  const once = () => {
    if (!done) {
      done = true;
      answer();
    }
  };
  req.once('end', once);
  req.once('close', once);
  req.resume();
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, live } = deps;
  const cfg = config.gateway;
  // Headers the gateway sets itself (or must never pass): a client's value under these names never reaches a backend.
  const gatewaySet: ReadonlySet<string> = new Set([
    cfg.identity_header.toLowerCase(),
    'x-fapi-interaction-id',
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-forwarded-host',
    ...(config.apimgt.mutual_ssl.client_certificate_header ? [config.apimgt.mutual_ssl.client_certificate_header.toLowerCase()] : []),
  ]);
  const publicHost = new URL(config.derived.baseUrl).host;
  const allowedBackend = backendHostAllowed(config);
  const tokens = createTokenCache({ maxEntries: 50_000, maxAgeMs: 60_000 });
  live.onClientChanged((clientId) => tokens.forgetClient(clientId));
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  // A claimed key is held while its call may still be running, then freed for a retry.
  const leaseSeconds = Math.ceil((cfg.backend_connect_timeout + cfg.backend_timeout) / 1000) + 10;

  // Step 2/3: route and lifecycle, on the canonical path (src/gateway/path.ts).
  function route(method: string, path: string): RouteMatch {
    const found = live.current().lookup(method, path);
    if (found.kind === 'method') {
      throw fail('GATEWAY_METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${found.allow.join(', ')}`, { headers: { allow: found.allow.join(', ') } });
    }
    if (found.kind === 'none') throw fail('GATEWAY_ROUTE_NOT_FOUND', 'no API operation matches this method and path');
    if (found.match.api.state === 'BLOCKED') throw fail('GATEWAY_API_BLOCKED', 'this API is blocked; try again later');
    return found.match;
  }

  // Step 1: the transport certificate, chained to the trust store (checked first for every API
  // but the DCR API, whose service checks it itself).
  function certificate(req: IncomingMessage): ClientCertificate {
    const cert = deps.clientCert(req);
    // Missing, untrusted, expired or not yet valid: each says which.
    const refused = clientCertificateError(cert);
    if (refused) throw refused;
    return cert!;
  }

  // Step 4: the token, checked by the key manager that owns it (the resolver) or taken from the
  // cache of tokens verified before; what may change meanwhile is asked on every call all the same:
  // the key manager's recheck (the resident client's revocation mark) and the binding, checked
  // here alone for every token. Each refusal's challenge says which check failed.
  async function authenticate(req: IncomingMessage, cert: ClientCertificate): Promise<Caller> {
    const header = req.headers.authorization;
    if (header === undefined) throw bearerError('GATEWAY_TOKEN_MISSING', 'a Bearer access token is required');
    const m = BEARER.exec(header);
    if (!m) throw bearerError('GATEWAY_TOKEN_MALFORMED', 'the Authorization header is not Bearer and an access token');
    const raw = m[1]!;
    const nowMs = Date.now();
    const version = live.current().version;
    let token = tokens.get(raw, nowMs, version);
    if (token === undefined) {
      token = await deps.resolver.resolve(raw);
      if (token.format === 'jwt') tokens.set(raw, token, nowMs, version);
    } else {
      const pending = deps.resolver.recheck(token);
      const refused = pending && (await pending);
      if (refused) {
        tokens.forgetClient(token.clientId);
        throw refused;
      }
    }
    // FAPI: every OB access token is bound to the certificate (RFC 8705 cnf x5t#S256); an unbound one is refused too.
    if (!boundTo(token.certificateThumbprint, cert.x509)) {
      throw bearerError(
        'GATEWAY_TOKEN_CERT_MISMATCH',
        token.certificateThumbprint === undefined
          ? 'the access token is not bound to a client certificate'
          : 'the access token is bound to another client certificate than the one presented',
      );
    }
    return { token, raw, roles: psd2Roles(cert.x509) ?? token.roles };
  }

  // Step 5: scopes and flow, then roles.
  function authorize(op: OperationDef, api: ApiRecord, { token, roles }: Caller): void {
    const flow = token.grant === 'client_credentials' ? 'client_credentials' : token.grant === 'psu' ? 'authorization_code' : undefined;
    const sameFlow = op.security.filter((alt) => alt.flow === flow);
    if (sameFlow.length === 0) {
      throw fail(
        'GATEWAY_FLOW_MISMATCH',
        op.security.some((a) => a.flow === 'authorization_code')
          ? 'this operation needs a token a PSU authorised (authorization code grant)'
          : 'this operation needs a client credentials token',
      );
    }
    const granted = new Set(token.scopes);
    if (!sameFlow.some((alt) => alt.scopes.every((s) => granted.has(s)))) {
      const missing = sameFlow[0]!.scopes.filter((s) => !granted.has(s));
      throw fail('GATEWAY_SCOPE_MISSING', `the access token lacks the scope ${missing.join(' ')}`);
    }
    if (api.requiredRoles.length > 0 && !api.requiredRoles.some((r) => roles.includes(r))) {
      throw fail('GATEWAY_ROLE_MISSING', `this API needs one of the roles ${api.requiredRoles.join(', ')}`);
    }
  }

  // Step 6: the application's subscription: of this client at the key manager that validated the token, never another's.
  async function subscribed(api: ApiRecord, token: VerifiedToken): Promise<SubscriptionRecord> {
    const sub = await live.subscription(token.keyManager, token.clientId, api.id);
    if (!sub) throw fail('GATEWAY_NOT_SUBSCRIBED', 'the application is not subscribed to this API');
    if (sub.state !== 'ACTIVE') throw fail('GATEWAY_SUBSCRIPTION_BLOCKED', "the application's subscription to this API is blocked");
    return sub;
  }

  // Step 7: every limit that applies, counted in the shared state (all workers and hosts); the tightest decides.
  async function throttle(limits: Array<{ key: string; limit: RateLimit; stop: boolean }>): Promise<void> {
    if (limits.length === 0) return;
    const counts = await Promise.all(limits.map((l) => deps.shared.count(l.key, l.limit.unitTime * TIME_UNIT_SECONDS[l.limit.timeUnit])));
    const now = Date.now() / 1000;
    let retryAfter = 0;
    counts.forEach((c, i) => {
      const l = limits[i]!;
      if (l.stop && c.count > l.limit.requestCount) retryAfter = Math.max(retryAfter, Math.ceil(c.resetAt - now));
    });
    if (retryAfter > 0) {
      throw fail('GATEWAY_THROTTLED', 'the request limit is reached; retry after the time in Retry-After', {
        headers: { 'retry-after': String(Math.max(1, retryAfter)) },
      });
    }
  }

  function limitsFor(match: RouteMatch, plan: PlanRecord | undefined, throttleKey: string) {
    const out: Array<{ key: string; limit: RateLimit; stop: boolean }> = [];
    if (plan?.limit) out.push({ key: `gw:p:${throttleKey}`, limit: plan.limit, stop: plan.stopOnQuotaReach });
    if (plan?.burst)
      out.push({ key: `gw:b:${throttleKey}`, limit: { requestCount: plan.burst.requestCount, unitTime: 1, timeUnit: plan.burst.timeUnit }, stop: true });
    if (match.operation.limit)
      out.push({ key: `gw:o:${match.api.id}:${match.operation.method}:${match.operation.path}`, limit: match.operation.limit, stop: true });
    return out;
  }

  // Step 8: OB request rules. A body only where the definition declares one, as one of its media
  // types, not compressed (it could not be checked); the answer says what the forward step reads.
  function requestRules(req: IncomingMessage, op: OperationDef): Call['body'] {
    const method = req.method ?? 'GET';
    const declared = op.body === undefined ? (WITH_BODY.has(method) ? JSON_BODY : null) : op.body;
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    let body: Call['body'] = 'none';
    if (hasBody) {
      if (declared === null) throw fail('GATEWAY_BODY_NOT_ALLOWED', `${method} on this operation takes no request body`);
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity')
        throw fail('GATEWAY_CONTENT_TYPE', 'the request body must not be compressed (Content-Encoding)');
      const type = req.headers['content-type'];
      const essence = type === undefined ? undefined : mediaEssence(type);
      const types = declared.types.length > 0 ? declared.types : JSON_BODY.types;
      if (essence === undefined || !types.includes(essence)) throw fail('GATEWAY_CONTENT_TYPE', `the request body must be sent as ${types.join(' or ')}`);
      body = isJsonType(essence) ? 'json' : 'other';
    }
    const accept = req.headers.accept;
    if (accept !== undefined && accept !== '' && !/(^|,)\s*(application\/json|application\/\*|\*\/\*)\s*(;|,|$)/i.test(accept)) {
      throw fail('GATEWAY_NOT_ACCEPTABLE', 'the API answers with application/json, which Accept does not allow');
    }
    if (op.idempotency) {
      const key = req.headers['x-idempotency-key'];
      if (key === undefined) throw fail('GATEWAY_HEADER_MISSING', 'the x-idempotency-key header is required');
      if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))
        throw fail('GATEWAY_HEADER_INVALID', 'x-idempotency-key must be 1 to 40 visible ASCII characters');
    }
    return body;
  }

  async function target(req: IncomingMessage, match: RouteMatch, caller: Caller, query: string, interactionId: string): Promise<ForwardTarget> {
    const { api } = match;
    const base = new URL(api.backendUrl);
    if (!allowedBackend(base)) throw fail('GATEWAY_BACKEND_UNREACHABLE', 'the API backend is not at an allowed host');
    const t = caller.token;
    const identity = await deps.identity.sign(
      {
        keyManager: t.keyManager,
        clientId: t.clientId,
        softwareId: t.softwareId,
        orgId: t.orgId,
        roles: caller.roles,
        scopes: t.scopes,
        psu: t.grant === 'psu' ? t.subject : undefined,
        consentId: t.consentId,
      },
      base.origin,
      caller.raw,
    );
    const headers = backendHeaders(req.headers, allowedHeaders(match.operation, gatewaySet), gatewaySet);
    headers[cfg.identity_header] = identity;
    headers['x-fapi-interaction-id'] = interactionId;
    // X-Forwarded-For from the client survives only from a trusted load balancer (src/app.ts admit).
    const peer = req.socket.remoteAddress;
    if (peer) headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${peer}` : peer;
    headers['x-forwarded-proto'] = 'https';
    headers['x-forwarded-host'] = publicHost;
    return { origin: base.origin, path: `${base.pathname.replace(/\/$/, '')}${match.rest}${query}`, headers };
  }

  function send(res: ServerResponse, r: StoredResponse): void {
    const body = Buffer.from(r.body, 'base64');
    res.writeHead(r.status, { ...r.headers, 'content-length': body.length });
    res.end(body);
  }

  /**
   * x-idempotency-key, at most once: the first call with a key runs; a repeat with the same body
   * gets its stored answer, whatever its status (a backend's 5xx too). While the first call may
   * still run, a repeat gets 409 IN_PROGRESS with Retry-After; once its outcome is lost (the
   * backend too slow, the connection cut, this process killed and its lease over), 409
   * OUTCOME_UNKNOWN until the key expires: the gateway never runs it again, because it cannot know
   * whether the backend did. The key is freed only when the call certainly did nothing: it never
   * left (no connection to the backend) or the backend says so (NOT_EXECUTED_HEADER).
   */
  async function idempotent(req: IncomingMessage, res: ServerResponse, to: ForwardTarget, clientId: string, path: string, body: Buffer): Promise<void> {
    const key = String(req.headers['x-idempotency-key']);
    const method = req.method ?? 'POST';
    const fingerprint = requestFingerprint(method, path, body);
    const t = now();
    const claim = await deps.idempotency.claimIdempotency(clientId, key, fingerprint, t + leaseSeconds, t + cfg.idempotency_window, t);
    if (claim !== 'claimed') {
      if (claim.fingerprint !== fingerprint)
        throw fail('GATEWAY_IDEMPOTENCY_MISMATCH', 'this x-idempotency-key was used with another request in the last 24 hours');
      if (claim.response !== null) {
        send(res, JSON.parse(claim.response) as StoredResponse);
        return;
      }
      if (claim.leaseUntil > t) {
        throw fail('GATEWAY_IDEMPOTENCY_IN_PROGRESS', 'a request with this x-idempotency-key is still being processed; retry after the time in Retry-After', {
          headers: { 'retry-after': String(claim.leaseUntil - t) },
        });
      }
      throw fail(
        'GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN',
        'the outcome of the first request with this x-idempotency-key is unknown and it is not run again; check the resource before sending a new request with a new key',
      );
    }
    const settle = (what: 'release' | 'abandon') =>
      (what === 'release' ? deps.idempotency.releaseIdempotency(clientId, key) : deps.idempotency.abandonIdempotency(clientId, key)).catch((e: unknown) =>
        deps.logger.warn({ err: e, what }, 'could not settle an idempotency key; its lease will run out and its outcome be unknown'),
      );
    let answer;
    try {
      answer = await deps.proxy.exchange(method, to, body);
    } catch (err) {
      await settle(mayHaveReachedBackend(err) ? 'abandon' : 'release');
      throw err;
    }
    const stored = storedResponse(answer.status, answer.headers, answer.body);
    if (answer.notExecuted) {
      await settle('release');
    } else {
      // The backend has answered: its answer goes to the caller even if it cannot be kept (the
      // lease then runs out and a repeat is told the outcome is unknown, never run twice).
      await deps.idempotency
        .completeIdempotency(clientId, key, JSON.stringify(stored), now() + cfg.idempotency_window)
        .catch((e: unknown) => deps.logger.error({ err: e }, 'could not keep the answer of an idempotent call; a repeat will be told its outcome is unknown'));
    }
    send(res, stored);
  }

  async function forward(req: IncomingMessage, res: ServerResponse, match: RouteMatch, caller: Caller, call: Call): Promise<void> {
    const { api, operation: op } = match;
    const checkJws = api.verifyJwsSignature && op.jwsSignature;
    const to = await target(req, match, caller, call.query, call.interactionId);
    // Streamed through unless the body must be seen whole: a signature, a replayable answer, JSON's nesting bound.
    if (!checkJws && !op.idempotency && call.body !== 'json') return deps.proxy.forward(req, res, to);
    const body = call.body === 'none' ? Buffer.alloc(0) : await readBody(req, cfg.max_request_body);
    if (call.body === 'json' && jsonTooDeep(body.toString('utf8'))) {
      throw fail('GATEWAY_JSON_TOO_DEEP', `the JSON body nests more than ${MAX_JSON_DEPTH} levels deep`);
    }
    if (checkJws) {
      const t = caller.token;
      if (!t.keySetUrl || !t.orgId || !t.softwareId)
        throw fail('GATEWAY_SIGNATURE_INVALID', 'the application has no software key set to check x-jws-signature against');
      await verifyJwsSignature(req.headers['x-jws-signature'], body, {
        issuer: `${t.orgId}/${t.softwareId}`,
        trustAnchor: cfg.jws_trust_anchor, // jose's remote key set resolves flattened JWS as it does compact ones (its types say compact only).
        keySet: deps.keySets.keySet(t.keySetUrl) as unknown as JwsCheck['keySet'],
        now: now(),
        clockTolerance: config.oauth.clock_tolerance,
      });
    }
    if (op.idempotency) return idempotent(req, res, to, idempotencyOwner(caller.token), call.path, body);
    return deps.proxy.forward(req, res, to, body);
  }

  async function run(req: IncomingMessage, res: ServerResponse, next: (req: IncomingMessage, res: ServerResponse) => void, call: Call): Promise<void> {
    const ctx = requestContext(res);
    // Decoded once and checked before anything else is read; the raw text goes no further.
    call.path = canonicalPath(call.path);
    call.query = checkedQuery(call.query);
    const match = route(req.method ?? 'GET', call.path);
    call.api = match.api.name;
    if (ctx) ctx.route = `${match.api.context}${match.operation.path}`;
    const plans = live.current().plans;
    if (match.api.backendUrl === INTERNAL_DCR_BACKEND) {
      // The built-in DCR API keeps RFC 7591: the DCR service checks the certificate, the software
      // statement and the registration token itself, with its own errors; the gateway adds the
      // API plan's throttling, per transport certificate.
      call.dcr = true;
      const presented = deps.clientCert(req);
      await throttle(limitsFor(match, plans.get(match.api.plans[0]!), `${match.api.id}:${presented ? x5tS256(presented.x509) : 'no-certificate'}`));
      req.url = `${match.api.context}${match.rest}${call.query}`;
      next(req, res);
      return;
    }
    const cert = certificate(req);
    const caller = await authenticate(req, cert);
    if (ctx) ctx.clientId = caller.token.clientId;
    authorize(match.operation, match.api, caller);
    const sub = await subscribed(match.api, caller.token);
    await throttle(limitsFor(match, plans.get(sub.plan), sub.id));
    call.body = requestRules(req, match.operation);
    await forward(req, res, match, caller, call);
  }

  return {
    handle(req, res, next) {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      if (!live.current().owns(path)) return false;
      const ctx = requestContext(res);
      const call: Call = { path, query: q === -1 ? '' : url.slice(q), interactionId: ctx?.interactionId ?? '', api: UNMATCHED_API };
      run(req, res, next, call)
        .then(() => deps.observe?.(call.api, 'ok', null))
        .catch((err: unknown) =>
          afterRequestBody(req, () => {
            const code = call.dcr ? sendOAuthError(res, err) : sendObError(res, err, call.interactionId);
            if (ctx) ctx.code = code;
            if (!(err instanceof AppError) || err.status >= 500) deps.logger.warn({ err, code }, 'gateway call failed');
            deps.observe?.(call.api, 'rejected', code);
          }),
        );
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
      if (ctx) {
        ctx.route = '(gateway: no API)';
        ctx.code = sendObError(res, fail('GATEWAY_ROUTE_NOT_FOUND', 'no API is published under this path'), ctx.interactionId);
      } else {
        sendObError(res, fail('GATEWAY_ROUTE_NOT_FOUND', 'no API is published under this path'), '');
      }
    },
  };
}
