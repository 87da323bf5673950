/**
 * The gateway's catalogue model (docs/gateway.md#the-catalogue): APIs imported from their
 * OpenAPI/Swagger documents, their operations, business plans and subscriptions. Plain data: the
 * stores persist it, the runtime compiles it into a route snapshot.
 */
import type { TppRole } from '../ob/roles.ts';

/** The built-in DCR service as a backend: served in process, no HTTP hop. */
export const INTERNAL_DCR_BACKEND = 'internal:dcr';

/** Meta counter bumped by every catalogue change (the periodic check compares it). */
export const GATEWAY_VERSION_KEY = 'gateway.version';

/** Largest API document accepted for import, in bytes of UTF-8. */
export const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;

/** WSO2's lifecycle. Only PUBLISHED and DEPRECATED are served; DEPRECATED takes no new subscriptions. */
export type ApiState = 'CREATED' | 'PUBLISHED' | 'DEPRECATED' | 'RETIRED' | 'BLOCKED';
export const API_STATES: readonly ApiState[] = ['CREATED', 'PUBLISHED', 'DEPRECATED', 'RETIRED', 'BLOCKED'];
/** States whose APIs the gateway routes (BLOCKED ones to answer 503). */
export const SERVED_STATES: ReadonlySet<ApiState> = new Set(['PUBLISHED', 'DEPRECATED', 'BLOCKED']);

/**
 * The kind of token an operation accepts: `client_credentials` (OB's TPPOAuth2Security: no PSU),
 * `authorization_code` (PSUOAuth2Security: a PSU consented; also hybrid/CIBA grants, which carry a
 * PSU the same way).
 */
export type TokenFlow = 'client_credentials' | 'authorization_code';

/** One alternative of an operation's `security` (OpenAPI: alternatives are OR, scopes within one are AND). */
export interface SecurityAlternative {
  flow: TokenFlow;
  scopes: string[];
}

export type TimeUnit = 'sec' | 'min' | 'hour' | 'day';
export const TIME_UNIT_SECONDS: Readonly<Record<TimeUnit, number>> = { sec: 1, min: 60, hour: 3600, day: 86400 };

/** A request limit: `requestCount` per `unitTime` × `timeUnit`. */
export interface RateLimit {
  requestCount: number;
  unitTime: number;
  timeUnit: TimeUnit;
}

export interface OperationDef {
  /** Upper-case HTTP method. */
  method: string;
  /** Path template relative to the API's context, starting with `/` (`/accounts/{AccountId}`). */
  path: string;
  operationId: string | null;
  /**
   * Token requirements; empty means the operation takes no OAuth token at the gateway (the DCR
   * POST /register, whose caller is authenticated by its software statement and certificate).
   */
  security: SecurityAlternative[];
  /** Declares the `x-idempotency-key` header parameter (OB payments POSTs). */
  idempotency: boolean;
  /** Declares the `x-jws-signature` header parameter. */
  jwsSignature: boolean;
  /** Per-operation limit (document extension `x-throttling-limit` or set by the publisher). */
  limit: RateLimit | null;
  /**
   * Header parameters the definition declares, in lower case: the backend receives these besides
   * the standard ones (src/gateway/backend-headers.ts). Absent on APIs imported before it was read.
   */
  headers?: string[];
  /**
   * The request body the definition declares: null, none (a call with a body is refused); else its
   * media types, lower case without parameters (`application/json`): a body must be sent as one of
   * them, and a JSON one is held to the server's nesting bound. Absent on APIs imported before it
   * was read: POST, PUT and PATCH take a JSON body, other methods none.
   */
  body?: { types: string[] } | null;
}

/** What an import reads from a document, before the publisher's choices are added. */
export interface ImportedApi {
  /** `info.title`. */
  name: string;
  /** `info.version`. */
  documentVersion: string;
  format: 'openapi3' | 'swagger2';
  /** Path of `servers[0].url` (OpenAPI 3) or `basePath` (Swagger 2), no trailing slash; null when absent. */
  context: string | null;
  operations: OperationDef[];
  /** Roles from the operations' scopes (SCOPE_ROLES), sorted. */
  requiredRoles: TppRole[];
}

export interface ApiRecord {
  id: string;
  name: string;
  /** Base path the API is served under (`/open-banking/v3.1/aisp`); APIs may share one (OB PISP and VRP). */
  context: string;
  /** Unique with `name`. */
  version: string;
  /** `https://…` backend, or `internal:dcr` for the built-in DCR service. */
  backendUrl: string;
  state: ApiState;
  /** Plan names offered; the first is the default for automatic subscriptions. */
  plans: string[];
  requiredRoles: TppRole[];
  operations: OperationDef[];
  /** Verify `x-jws-signature` on the operations that declare it (off by default). */
  verifyJwsSignature: boolean;
  /**
   * Serve the OB consent resources of this API here (src/consent: account-access-consents,
   * domestic-payment-consents, …), every other operation at the backend. Off when absent.
   */
  serveConsents?: boolean;
  /** SHA-256 (hex) of the imported document, which is stored beside the record (GatewayStore.getDocument). */
  documentHash: string;
  createdAt: number;
  updatedAt: number;
}

export interface PlanRecord {
  /** Unique policy name (`Gold`). */
  name: string;
  displayName: string;
  description: string;
  /** null = unlimited. */
  limit: RateLimit | null;
  /** Optional burst control: at most this many per `burstUnit` (WSO2 rateLimitCount/rateLimitTimeUnit). */
  burst: { requestCount: number; timeUnit: 'sec' | 'min' } | null;
  /** Reject past the quota (true) or only count it (false). */
  stopOnQuotaReach: boolean;
  builtIn: boolean;
}

export type SubscriptionState = 'ACTIVE' | 'BLOCKED';

/**
 * An application's access to an API. An application is identified by its key manager and its
 * client id together: the same client_id string at two key managers is two applications, and a
 * token a key manager validated only ever maps to that key manager's subscriptions.
 */
export interface SubscriptionRecord {
  id: string;
  /** The key manager whose client this is (RESIDENT_KEY_MANAGER for DCR registrations). */
  keyManager: string;
  clientId: string;
  apiId: string;
  plan: string;
  state: SubscriptionState;
  createdAt: number;
  updatedAt: number;
}

/** Built-in plans (WSO2's default subscription tiers). */
export const BUILT_IN_PLANS: readonly PlanRecord[] = [
  { name: 'Unlimited', displayName: 'Unlimited', description: 'Allows unlimited requests', limit: null, burst: null, stopOnQuotaReach: true, builtIn: true },
  {
    name: 'Gold',
    displayName: 'Gold',
    description: 'Allows 5000 requests per minute',
    limit: { requestCount: 5000, unitTime: 1, timeUnit: 'min' },
    burst: null,
    stopOnQuotaReach: true,
    builtIn: true,
  },
  {
    name: 'Silver',
    displayName: 'Silver',
    description: 'Allows 2000 requests per minute',
    limit: { requestCount: 2000, unitTime: 1, timeUnit: 'min' },
    burst: null,
    stopOnQuotaReach: true,
    builtIn: true,
  },
  {
    name: 'Bronze',
    displayName: 'Bronze',
    description: 'Allows 1000 requests per minute',
    limit: { requestCount: 1000, unitTime: 1, timeUnit: 'min' },
    burst: null,
    stopOnQuotaReach: true,
    builtIn: true,
  },
];

/** Which tokens a key manager owns (WSO2's token handling options). */
export interface TokenHandlingRule {
  /** REFERENCE: a regular expression an opaque token matches; JWT: the `iss` of a JWT; CUSTOM: `claim=value` of a JWT. */
  type: 'REFERENCE' | 'JWT' | 'CUSTOM';
  value: string;
}

/**
 * Who issues and checks tokens: the built-in key manager (`resident`) or an external OAuth/OIDC
 * server added by its discovery URL (docs/gateway.md#key-managers).
 */
export interface KeyManagerRecord {
  /** Unique; also the id in the admin API. */
  name: string;
  displayName: string;
  type: 'resident' | 'oidc';
  /** A disabled key manager owns no tokens. */
  enabled: boolean;
  issuer: string;
  wellKnownEndpoint: string | null;
  jwksUri: string | null;
  introspectionEndpoint: string | null;
  tokenEndpoint: string | null;
  revokeEndpoint: string | null;
  /** `jwt`: signature by kid from jwksUri, iss, aud, exp/nbf; `introspection`: RFC 7662 at introspectionEndpoint (cached). */
  validation: 'jwt' | 'introspection';
  /** The gateway's own credentials at the introspection endpoint (client_secret_basic). */
  introspectionClient: { clientId: string; clientSecret: string } | null;
  /** Expected `aud` of its JWTs; null checks none. */
  audience: string | null;
  tokenHandling: TokenHandlingRule[];
  /** Which claims carry the client id, the scopes and (optionally) the TPP roles. */
  claimMapping: { clientId: string; scopes: string; roles: string | null };
  createdAt: number;
  updatedAt: number;
}

/** The built-in key manager, as WSO2 names it. */
export const RESIDENT_KEY_MANAGER = 'Resident Key Manager';
