/**
 * One API call as it goes through the gateway's steps (src/gateway/runtime.ts runs them in order):
 * what the request said, and what each step has added so far. The object is made whole when the
 * call arrives (its shape never changes) and each step fills its own fields; the types below say
 * which fields a step may read, so a step that reads what no earlier step set does not compile.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientCertificate } from '../../http/client-cert.ts';
import type { RequestContext } from '../../http/front.ts';
import type { VerifiedToken } from '../../oauth/token-verifier.ts';
import type { SubscriptionRecord } from '../../storage/catalogue-records.ts';
import type { RouteMatch, RouteSnapshot } from '../snapshot.ts';
import type { ConsentNeed } from '../../consent/access.ts';
import type { ConsentRecord } from '../../storage/consent-records.ts';

/** What the request rules found for the forward step: no body, JSON (read whole and bounded), other. */
export type RequestBody = 'none' | 'json' | 'other';

/**
 * Who is calling, once the token has been checked: the application is the token's key manager and
 * client id together. `roles` are the TPP's: the PSD2 roles of its certificate (eIDAS QWAC, OBWAC)
 * when it carries them, else a resident client's software statement roles (from its registration,
 * never a token claim) or an external client's roles claim (only through its own key manager's
 * claim mapping).
 */
export interface Caller {
  readonly token: VerifiedToken;
  /** The access token as sent (the identity JWT is cached by it). */
  readonly raw: string;
  readonly roles: readonly string[];
}

export interface Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The request's access-log context (route, client id, code), when the request came through the front. */
  readonly ctx: RequestContext | undefined;
  readonly interactionId: string;
  /** The catalogue as it was when the call arrived: one call sees one version of the routes, plans and key managers. */
  readonly snapshot: RouteSnapshot;
  /** The raw path until the route step makes it canonical (src/gateway/path.ts). */
  path: string;
  /** '' or '?…', checked by the route step. */
  query: string;
  /** The API's name once routed (the metrics label). */
  api: string;
  /** The call is for the built-in DCR API, which answers in RFC 7591's shape. */
  dcr: boolean;
  match: RouteMatch | undefined;
  cert: ClientCertificate | undefined;
  caller: Caller | undefined;
  subscription: SubscriptionRecord | undefined;
  body: RequestBody | undefined;
  /** A PSU token's consent and what the operation needs of it (the consent step), when its API serves its consents here. */
  consent: { readonly record: ConsentRecord; readonly need: ConsentNeed } | undefined;
}

/** After the route step. */
export type Routed = Call & { readonly match: RouteMatch };
/** After the certificate step. */
export type Certified = Routed & { readonly cert: ClientCertificate };
/** After the token step. */
export type Authenticated = Certified & { readonly caller: Caller };
/** After the subscription step. */
export type Subscribed = Authenticated & { readonly subscription: SubscriptionRecord };
/** After the request rules: ready to forward. */
export type Checked = Subscribed & { readonly body: RequestBody };

/** The name of a call under a served context that matched no operation (metrics label). */
export const UNMATCHED_API = '(unmatched)';

/** A new call, every field in place (one shape for every call). */
export function newCall(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext | undefined,
  snapshot: RouteSnapshot,
  path: string,
  query: string,
): Call {
  return {
    req,
    res,
    ctx,
    interactionId: ctx?.interactionId ?? '',
    snapshot,
    path,
    query,
    api: UNMATCHED_API,
    dcr: false,
    match: undefined,
    cert: undefined,
    caller: undefined,
    subscription: undefined,
    body: undefined,
    consent: undefined,
  };
}
