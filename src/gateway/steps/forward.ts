/**
 * The forward step: the backend request (the API's backend URL at an allowed host, the path built
 * from the route, only the allowed headers, the caller's identity JWT instead of its token), then
 * the call itself. Streamed through unless the body must be seen whole: its JSON nesting bound,
 * an x-jws-signature to verify, or an at-most-once idempotent exchange (./idempotent.ts).
 */
import type { Config } from '../../config/schema.ts';
import type { JwksCache } from '../../crypto/jwks.ts';
import { consentOperation, type ConsentOperation } from '../../consent/kinds.ts';
import type { ConsentService } from '../../consent/service.ts';
import { fail } from '../../errors/app-error.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../http/json-limits.ts';
import { allowedHeaders, backendHeaders } from '../backend-headers.ts';
import type { IdentitySigner } from '../identity.ts';
import { type JwsCheck, readBody, verifyJwsSignature } from '../ob-rules.ts';
import type { BackendProxy, BufferedAnswer, ForwardTarget } from '../proxy.ts';
import type { Checked } from './call.ts';
import { exchangeOnce, idempotencyOwner, type IdempotencyDeps } from './idempotent.ts';
import { bodyRefusal, consentSnapshot } from '../../consent/access.ts';
import { consumingOrder, countedVrpPayment } from './consume.ts';
import { instructionOf, vrpBodyRefusal } from '../../consent/vrp.ts';
import { eventOperation, pushUnsupported, type EventPolling } from '../../consent/events.ts';
import type { ConsentAnswer } from '../../consent/api.ts';

export interface ForwardDeps {
  readonly proxy: Pick<BackendProxy, 'forward' | 'exchange'>;
  readonly identity: Pick<IdentitySigner, 'sign'>;
  /** Software key sets, for x-jws-signature. */
  readonly keySets: Pick<JwksCache, 'keySet'>;
  /** [gateway] allowed_backend_hosts, checked on every call (the setting may have changed since the import). */
  readonly allowedBackend: (url: URL) => boolean;
  /** [gateway] identity_header. */
  readonly identityHeader: string;
  /** Headers the gateway sets itself or never passes ({@link gatewaySetHeaders}). */
  readonly gatewaySet: ReadonlySet<string>;
  /** The public host, sent as X-Forwarded-Host. */
  readonly publicHost: string;
  readonly maxRequestBody: number;
  readonly jwsTrustAnchor: string;
  readonly clockTolerance: number;
  /** Epoch seconds. */
  readonly now: () => number;
  readonly idempotency: IdempotencyDeps;
  /** The consent resources, served in process for an API that serves its consents here; payment orders consume theirs. */
  readonly consents: Pick<ConsentService, 'serve' | 'consume' | 'reserveVrpPayment' | 'releaseVrpPayment'>;
  /** The Events API's aggregated polling, served in process for an API that serves its consents here. */
  readonly events: Pick<EventPolling, 'poll'>;
}

/** Headers the gateway sets itself (or must never pass): a client's value under these names never reaches a backend. */
export function gatewaySetHeaders(config: Config): ReadonlySet<string> {
  const certHeader = config.apimgt.mutual_ssl.client_certificate_header;
  return new Set([
    config.gateway.identity_header.toLowerCase(),
    'x-fapi-interaction-id',
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-forwarded-host',
    ...(certHeader ? [certHeader.toLowerCase()] : []),
  ]);
}

/** Where and how the backend is called for this call. */
export async function target(deps: ForwardDeps, call: Checked): Promise<ForwardTarget> {
  const { req, match, caller } = call;
  const base = new URL(match.api.backendUrl);
  if (!deps.allowedBackend(base)) throw fail('GATEWAY_BACKEND_UNREACHABLE', 'the API backend is not at an allowed host');
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
      consent: call.consent ? consentSnapshot(call.consent.record) : undefined,
    },
    base.origin,
    caller.raw,
  );
  const headers = backendHeaders(req.headers, allowedHeaders(match.operation, deps.gatewaySet), deps.gatewaySet);
  headers[deps.identityHeader] = identity;
  headers['x-fapi-interaction-id'] = call.interactionId;
  // X-Forwarded-For from the client survives only from a trusted load balancer (src/app.ts admit).
  const peer = req.socket.remoteAddress;
  if (peer) headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${peer}` : peer;
  headers['x-forwarded-proto'] = 'https';
  headers['x-forwarded-host'] = deps.publicHost;
  return { origin: base.origin, path: `${base.pathname.replace(/\/$/, '')}${match.rest}${call.query}`, headers };
}

/** An answer made here, from the request body. */
type ServedHere = (body: Buffer) => Promise<BufferedAnswer>;

/**
 * How this call is answered here when its API serves its consents here (docs/consents.md): the
 * consent resources by the consent service, the Events API's polling by the event notices (its
 * subscriptions 405); undefined for every other operation, which goes to the backend.
 */
export function servedHere(deps: Pick<ForwardDeps, 'consents' | 'events'>, call: Checked): ServedHere | undefined {
  const { api, operation } = call.match;
  if (!api.serveConsents) return undefined;
  const consent = consentOperation(operation.method, operation.path);
  if (consent) return (body) => consentAnswer(deps, call, consent, body);
  const events = eventOperation(operation.method, operation.path);
  if (events === 'poll') {
    return async (body) =>
      asBackend(
        call,
        await deps.events.poll({
          api: apiOf(call),
          body,
          keyManager: call.caller.token.keyManager,
          clientId: call.caller.token.clientId,
          interactionId: call.interactionId,
        }),
      );
  }
  if (events === 'subscription') return async () => asBackend(call, pushUnsupported(apiOf(call), call.interactionId));
  return undefined;
}

const apiOf = (call: Checked) => {
  const { api } = call.match;
  return { id: api.id, context: api.context, version: api.version, documentHash: api.documentHash };
};

const asBackend = (call: Checked, answer: ConsentAnswer): BufferedAnswer => ({
  status: answer.status,
  headers: { ...answer.headers, 'x-fapi-interaction-id': call.interactionId },
  body: answer.body,
  notExecuted: false,
});

/** The ConsentId of `/…-consents/{ConsentId}` in the path the route built (its value checked by the route step). */
function consentIdOf(call: Checked): string | undefined {
  const m = /\/([^/]+)$/.exec(call.match.rest);
  return m && call.match.operation.path.endsWith('/{ConsentId}') ? decodeURIComponent(m[1]!) : undefined;
}

/** The consent service's answer to the call, as a backend's. */
async function consentAnswer(deps: Pick<ForwardDeps, 'consents'>, call: Checked, operation: ConsentOperation, body: Buffer): Promise<BufferedAnswer> {
  const consentId = consentIdOf(call);
  const answer = await deps.consents.serve({
    operation,
    api: apiOf(call),
    ...(consentId === undefined ? {} : { consentId }),
    body,
    keyManager: call.caller.token.keyManager,
    clientId: call.caller.token.clientId,
    interactionId: call.interactionId,
  });
  return asBackend(call, answer);
}

function sendAnswer(res: Checked['res'], a: BufferedAnswer): void {
  res.writeHead(a.status, { ...a.headers, 'content-length': a.body.length });
  res.end(a.body);
}

/** Sends the call to the backend (or the consent service) and its answer to the caller. */
export async function forward(deps: ForwardDeps, call: Checked): Promise<void> {
  const { req, res, match, body: kind } = call;
  const op = match.operation;
  const checkJws = match.api.verifyJwsSignature && op.jwsSignature;
  const here = servedHere(deps, call);
  const to = here ? undefined : await target(deps, call);
  const held = call.consent;
  const bodyNamesConsent = held !== undefined && (held.need.use === 'order' || held.need.use === 'confirm-funds' || held.need.use === 'vrp-payment');
  if (to && !checkJws && !op.idempotency && kind !== 'json' && !bodyNamesConsent) return deps.proxy.forward(req, res, to);
  const body = kind === 'none' ? Buffer.alloc(0) : await readBody(req, deps.maxRequestBody);
  if (kind === 'json' && jsonTooDeep(body.toString('utf8'))) {
    throw fail('GATEWAY_JSON_TOO_DEEP', `the JSON body nests more than ${MAX_JSON_DEPTH} levels deep`);
  }
  if (checkJws) {
    const t = call.caller.token;
    if (!t.keySetUrl || !t.orgId || !t.softwareId)
      throw fail('GATEWAY_SIGNATURE_INVALID', 'the application has no software key set to check x-jws-signature against');
    await verifyJwsSignature(req.headers['x-jws-signature'], body, {
      issuer: `${t.orgId}/${t.softwareId}`,
      trustAnchor: deps.jwsTrustAnchor,
      // jose's remote key set resolves flattened JWS as it does compact ones (its types say compact only).
      keySet: deps.keySets.keySet(t.keySetUrl) as unknown as JwsCheck['keySet'],
      now: deps.now(),
      clockTolerance: deps.clockTolerance,
    });
  }
  let parsed: unknown;
  if (held && bodyNamesConsent) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const refused = held.need.use === 'vrp-payment' ? vrpBodyRefusal(held.record, parsed) : bodyRefusal(held.record, held.need, parsed);
    if (refused) throw fail(refused.code, refused.description, refused.path === undefined ? {} : { field: refused.path });
  }
  const method = req.method ?? 'POST';
  const send = () => (here ? here(body) : deps.proxy.exchange(method, to!, body));
  // A payment order holds its consent while it runs and consumes it once accepted (./consume.ts).
  // A VRP payment is counted against its consent's limits while it runs (./consume.ts).
  const exchange =
    held?.need.use === 'order'
      ? () => consumingOrder(deps, idempotencyOwner(call.caller.token), held.record, call.caller.token.clientId, send)
      : held?.need.use === 'vrp-payment'
        ? () => countedVrpPayment(deps, held.record, instructionOf(parsed), send)
        : send;
  if (op.idempotency) return exchangeOnce(deps.idempotency, call, body, exchange);
  if (here) return sendAnswer(res, await exchange());
  return deps.proxy.forward(req, res, to!, body);
}
