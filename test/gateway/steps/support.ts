/**
 * Fakes for the gateway's step tests: a call object as the steps before the one under test would
 * have left it, a request and a response without a socket, catalogue records, verified tokens and
 * certificates, and one assertion for a coded refusal (its code, status, description and headers).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { AppError } from '../../../src/errors/app-error.ts';
import type { ClientCertificate } from '../../../src/http/client-cert.ts';
import type { RequestContext } from '../../../src/http/front.ts';
import { createCertificateAuthority, type IssuedCertificate } from '../../../src/crypto/pki.ts';
import { psd2Extension } from '../../../src/crypto/psd2-roles.ts';
import { issueClientCertificate } from '../../../src/crypto/pki.ts';
import { x5tS256 } from '../../../src/crypto/thumbprint.ts';
import type { VerifiedToken } from '../../../src/oauth/token-verifier.ts';
import type { TppRole } from '../../../src/ob/roles.ts';
import { type ApiRecord, type OperationDef, type PlanRecord, RESIDENT_KEY_MANAGER, type SubscriptionRecord } from '../../../src/storage/catalogue-records.ts';
import { newCall, type Call } from '../../../src/gateway/steps/call.ts';
import { buildSnapshot, type RouteSnapshot } from '../../../src/gateway/snapshot.ts';

export const CONTEXT = '/open-banking/v3.1/aisp';

export function operation(over: Partial<OperationDef> = {}): OperationDef {
  return {
    method: 'GET',
    path: '/accounts/{AccountId}',
    operationId: null,
    security: [{ flow: 'authorization_code', scopes: ['accounts'] }],
    idempotency: false,
    jwsSignature: false,
    limit: null,
    ...over,
  };
}

export function api(over: Partial<ApiRecord> = {}): ApiRecord {
  return {
    id: 'api-1',
    name: 'AccountsAPI',
    context: CONTEXT,
    version: 'v3.1.11',
    backendUrl: 'https://bank.example/aisp/',
    state: 'PUBLISHED',
    plans: ['Gold'],
    requiredRoles: [],
    operations: [operation()],
    verifyJwsSignature: false,
    documentHash: 'hash',
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

export function plan(over: Partial<PlanRecord> = {}): PlanRecord {
  return { name: 'Gold', displayName: 'Gold', description: '', limit: null, burst: null, stopOnQuotaReach: true, builtIn: true, ...over };
}

export function subscriptionRecord(over: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    id: 'sub-1',
    keyManager: RESIDENT_KEY_MANAGER,
    clientId: 'client-1',
    apiId: 'api-1',
    plan: 'Gold',
    state: 'ACTIVE',
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

export function verifiedToken(over: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    kind: 'access_token',
    format: 'jwt',
    keyManager: RESIDENT_KEY_MANAGER,
    clientId: 'client-1',
    softwareId: 'software-1',
    orgId: 'org-1',
    keySetUrl: 'https://keystore.example/org-1/software-1.jwks',
    roles: ['AISP'],
    consentId: undefined,
    scopes: ['accounts'],
    grant: 'client_credentials',
    subject: 'client-1',
    certificateThumbprint: undefined,
    issuedAt: 0,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    jti: undefined,
    audience: undefined,
    revoke: async () => undefined,
    ...over,
  };
}

let ca: Promise<IssuedCertificate> | undefined;
/** A transport certificate the trust store trusts, with PSD2 roles when `roles` are given. */
export async function transportCertificate(cn: string, roles?: readonly TppRole[]): Promise<ClientCertificate> {
  ca ??= createCertificateAuthority({ subject: 'CN=Step Test CA', validityDays: 2 });
  const issued = await issueClientCertificate(await ca, { subject: `CN=${cn}`, validityDays: 1, ...(roles ? { extensions: [psd2Extension(roles)] } : {}) });
  return { pem: issued.certPem, x509: issued.x509, authorized: true, source: 'tls' };
}

export const thumbprintOf = (cert: ClientCertificate) => x5tS256(cert.x509);

/** A request without a socket: headers, method, url, a peer address, and `body` as its stream. */
export function fakeRequest(opts: { method?: string; url?: string; headers?: Record<string, string>; body?: Buffer; peer?: string } = {}): IncomingMessage {
  const req = Readable.from(opts.body ? [opts.body] : []) as unknown as IncomingMessage & { complete: boolean };
  Object.assign(req, {
    method: opts.method ?? 'GET',
    url: opts.url ?? `${CONTEXT}/accounts/a1`,
    headers: opts.headers ?? {},
    socket: { remoteAddress: opts.peer ?? '192.0.2.10' },
    complete: true,
  });
  return req;
}

/** A response that records what was written. */
export interface FakeResponse {
  status: number | undefined;
  headers: Record<string, string | number> | undefined;
  body: Buffer | undefined;
}
export function fakeResponse(): ServerResponse & FakeResponse {
  const res = {
    status: undefined as number | undefined,
    headers: undefined as Record<string, string | number> | undefined,
    body: undefined as Buffer | undefined,
    headersSent: false,
    writeHead(status: number, headers: Record<string, string | number>) {
      res.status = status;
      res.headers = headers;
      res.headersSent = true;
      return res;
    },
    end(body?: Buffer | string) {
      res.body = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
      return res;
    },
  };
  return res as unknown as ServerResponse & FakeResponse;
}

export function fakeContext(): RequestContext {
  return {
    requestId: 'r1',
    interactionId: '93bac548-d2de-4546-b106-880a5018460d',
    traceId: undefined,
    parentSpanId: undefined,
    method: 'GET',
    started: 0n,
    route: undefined,
    clientId: undefined,
    code: undefined,
  };
}

/** A catalogue snapshot of `apis` and `plans`, as the live catalogue builds it. */
export const snapshotOf = (apis: ApiRecord[], plans: PlanRecord[] = [plan()], version = 'v1'): RouteSnapshot =>
  buildSnapshot(version, apis, plans, () => assert.fail('no route conflict in a test catalogue'));

/** A call as the steps before the one under test leave it: `fields` are what they added. */
export function fakeCall<F extends Partial<Call>>(
  fields: F & { req?: IncomingMessage; res?: ServerResponse; snapshot?: RouteSnapshot; ctx?: RequestContext },
): Call & F {
  const req = fields.req ?? fakeRequest();
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const call = newCall(
    req,
    fields.res ?? fakeResponse(),
    fields.ctx ?? fakeContext(),
    fields.snapshot ?? snapshotOf([api()]),
    q === -1 ? url : url.slice(0, q),
    q === -1 ? '' : url.slice(q),
  );
  return Object.assign(call, fields);
}

/** Asserts that `fn` throws (or rejects with) the coded error `code`, with `description` (exact, or matched) and `headers` when given. */
export async function assertRefused(fn: () => unknown, code: string, description?: string | RegExp, headers?: Record<string, string>): Promise<AppError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof AppError, `expected ${code}, got ${String(thrown)}`);
  assert.equal(thrown.code, code);
  if (typeof description === 'string') assert.equal(thrown.description, description);
  else if (description) assert.match(thrown.description, description);
  if (headers) assert.deepEqual(thrown.headers, headers);
  return thrown;
}

/** The Bearer challenge the gateway answers a refused token with. */
export const challenge = (description: string) => ({
  'www-authenticate': `Bearer realm="opendcr", error="invalid_token", error_description="${description}"`,
});
