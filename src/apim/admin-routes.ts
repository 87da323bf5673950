/**
 * The gateway catalogue over REST, in the WSO2 API Manager shapes a migrating bank's scripts
 * already use (docs/gateway.md#rest-apis): Publisher (import-openapi, change-lifecycle, apis), Admin
 * (throttling policies, key managers), Devportal (apis, subscriptions), plus subscription blocking and the
 * OpenAPI description of these routes. Admin credentials are required; errors are
 * `{code, message, traceId}`. Each change is made by the catalogue service, so CLI and REST behave
 * the same.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import { fail } from '../errors/app-error.ts';
import { errorHandler } from '../http/error-handler.ts';
import { parseBody } from '../http/parse-body.ts';
import type { Application, Catalogue, ApiSettings } from './catalogue.ts';
import { LIFECYCLE_ACTIONS } from './catalogue.ts';
import type { ApiRecord, KeyManagerRecord, PlanRecord, SubscriptionRecord } from '../storage/catalogue-records.ts';
import type { KeyManagerAdmin, KeyManagerInput } from './key-managers.ts';
import { MAX_DOCUMENT_BYTES } from '../storage/catalogue-records.ts';
import { TPP_ROLES } from '../ob/roles.ts';
import { gatewayAdminOpenApi } from './admin-openapi.ts';

import { ADMIN, DEVPORTAL, PUBLISHER } from './admin-paths.ts';
import type { RouteGuard } from '../http/guard.ts';

const additionalProperties = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  context: z.string().min(1).max(200).optional(),
  version: z.string().min(1).max(32).optional(),
  endpointConfig: z
    .object({
      endpoint_type: z.string().optional(),
      production_endpoints: z.object({ url: z.string().min(1).max(2000) }),
    })
    .optional(),
  policies: z.array(z.string().min(1).max(64)).max(20).optional(),
  roles: z
    .array(z.enum(TPP_ROLES as [string, ...string[]]))
    .max(4)
    .optional(),
  verifyJwsSignature: z.boolean().optional(),
  serveConsents: z.boolean().optional(),
});

const timeUnit = z.enum(['sec', 'min', 'hour', 'day']);
const limitBody = z.strictObject({ requestCount: z.number().int(), unitTime: z.number().int().optional(), timeUnit });
const apiChangeBody = z.strictObject({
  endpointConfig: z.object({ endpoint_type: z.string().optional(), production_endpoints: z.object({ url: z.string().min(1).max(2000) }) }).optional(),
  policies: z.array(z.string().min(1).max(64)).max(20).optional(),
  requiredRoles: z
    .array(z.enum(TPP_ROLES as [string, ...string[]]))
    .max(4)
    .optional(),
  verifyJwsSignature: z.boolean().optional(),
  serveConsents: z.boolean().optional(),
  operations: z
    .array(z.strictObject({ target: z.string().min(1).max(500), verb: z.string().min(1).max(10), throttlingLimit: limitBody.nullable() }))
    .max(500)
    .optional(),
});
const policyBody = z.strictObject({
  policyName: z.string().min(1).max(64),
  displayName: z.string().max(200).optional(),
  description: z.string().max(1000).optional(),
  defaultLimit: z
    .strictObject({
      type: z.enum(['REQUESTCOUNTLIMIT']).optional(),
      requestCount: z.strictObject({ timeUnit, unitTime: z.number().int(), requestCount: z.number().int() }),
    })
    .optional(),
  rateLimitCount: z.number().int().optional(),
  rateLimitTimeUnit: z.enum(['sec', 'min']).optional(),
  stopOnQuotaReach: z.boolean().optional(),
});

const subscriptionChange = z.strictObject({ throttlingPolicy: z.string().min(1).max(64) });
const subscriptionBody = z.strictObject({
  applicationId: z.string().min(1).max(255),
  // Whose client applicationId is (default: the resident key manager's, a DCR client).
  keyManager: z.string().min(1).max(64).optional(),
  apiId: z.string().min(1).max(64),
  throttlingPolicy: z.string().min(1).max(64).optional(),
});

// WSO2's key manager DTO, with our additions in additionalProperties.
const keyManagerBody = z.strictObject({
  name: z.string().min(1).max(64),
  displayName: z.string().max(200).optional(),
  type: z.string().max(32).optional(),
  description: z.string().max(1000).optional(),
  enabled: z.boolean().optional(),
  wellKnownEndpoint: z.string().min(1).max(2000),
  issuer: z.string().min(1).max(2000).optional(),
  enableSelfValidationJWT: z.boolean().optional(),
  tokenValidation: z
    .array(z.strictObject({ type: z.enum(['REFERENCE', 'JWT', 'CUSTOM']), value: z.string().min(1).max(500) }))
    .max(20)
    .optional(),
  consumerKeyClaim: z.string().min(1).max(100).optional(),
  scopesClaim: z.string().min(1).max(100).optional(),
  additionalProperties: z
    .strictObject({
      introspection_client_id: z.string().min(1).max(255).optional(),
      introspection_client_secret: z.string().min(1).max(1024).optional(),
      audience: z.string().min(1).max(2000).optional(),
      roles_claim: z.string().min(1).max(100).optional(),
    })
    .optional(),
});
const keyManagerEnable = z.strictObject({ name: z.string().max(64).optional(), enabled: z.boolean() });

export function keyManagerDto(k: KeyManagerRecord) {
  return {
    id: k.name,
    name: k.name,
    displayName: k.displayName,
    type: k.type === 'resident' ? 'default' : 'custom',
    enabled: k.enabled,
    issuer: k.issuer,
    wellKnownEndpoint: k.wellKnownEndpoint,
    endpoints: { jwks: k.jwksUri, introspection: k.introspectionEndpoint, token: k.tokenEndpoint, revoke: k.revokeEndpoint },
    certificates: k.jwksUri ? { type: 'JWKS', value: k.jwksUri } : null,
    enableSelfValidationJWT: k.validation === 'jwt',
    tokenValidation: k.tokenHandling,
    consumerKeyClaim: k.claimMapping.clientId,
    scopesClaim: k.claimMapping.scopes,
    // The introspection secret is never sent back.
    additionalProperties: {
      ...(k.introspectionClient ? { introspection_client_id: k.introspectionClient.clientId } : {}),
      ...(k.audience ? { audience: k.audience } : {}),
      ...(k.claimMapping.roles ? { roles_claim: k.claimMapping.roles } : {}),
    },
    createdTime: new Date(k.createdAt * 1000).toISOString(),
    lastUpdatedTime: new Date(k.updatedAt * 1000).toISOString(),
  };
}

function keyManagerInput(b: z.infer<typeof keyManagerBody>): KeyManagerInput {
  const extra = b.additionalProperties ?? {};
  if ((extra.introspection_client_id === undefined) !== (extra.introspection_client_secret === undefined)) {
    throw fail('KEY_MANAGER_INVALID', 'additionalProperties needs both introspection_client_id and introspection_client_secret, or neither');
  }
  return {
    name: b.name,
    displayName: b.displayName,
    enabled: b.enabled,
    wellKnownEndpoint: b.wellKnownEndpoint,
    issuer: b.issuer,
    validation: b.enableSelfValidationJWT === false ? 'introspection' : 'jwt',
    introspectionClient: extra.introspection_client_id
      ? { clientId: extra.introspection_client_id, clientSecret: extra.introspection_client_secret! }
      : undefined,
    audience: extra.audience,
    tokenHandling: b.tokenValidation,
    claimMapping: {
      ...(b.consumerKeyClaim ? { clientId: b.consumerKeyClaim } : {}),
      ...(b.scopesClaim ? { scopes: b.scopesClaim } : {}),
      ...(extra.roles_claim ? { roles: extra.roles_claim } : {}),
    },
  };
}

/** WSO2's API DTO (the fields we have), plus our own: requiredRoles, operations' flows. */
export function apiDto(api: ApiRecord) {
  return {
    id: api.id,
    name: api.name,
    context: api.context,
    version: api.version,
    lifeCycleStatus: api.state,
    policies: api.plans,
    endpointConfig: { endpoint_type: 'http', production_endpoints: { url: api.backendUrl } },
    requiredRoles: api.requiredRoles,
    verifyJwsSignature: api.verifyJwsSignature,
    serveConsents: api.serveConsents ?? false,
    operations: api.operations.map((o) => ({
      target: o.path,
      verb: o.method,
      operationId: o.operationId,
      authType: o.security.length ? 'Application' : 'None',
      scopes: [...new Set(o.security.flatMap((s) => s.scopes))],
      flows: [...new Set(o.security.map((s) => s.flow))],
      idempotency: o.idempotency,
      jwsSignature: o.jwsSignature,
      throttlingLimit: o.limit,
      // What the gateway passes to the backend besides the standard headers, and the body it takes (src/gateway/backend-headers.ts, runtime.ts).
      headers: o.headers ?? [],
      requestBody: o.body === undefined ? (['POST', 'PUT', 'PATCH'].includes(o.method) ? ['application/json'] : null) : (o.body?.types ?? null),
    })),
    documentHash: api.documentHash,
    createdTime: new Date(api.createdAt * 1000).toISOString(),
    lastUpdatedTime: new Date(api.updatedAt * 1000).toISOString(),
  };
}

export function policyDto(p: PlanRecord) {
  return {
    policyId: p.name,
    policyName: p.name,
    displayName: p.displayName,
    description: p.description,
    isDeployed: true,
    builtIn: p.builtIn,
    defaultLimit: p.limit
      ? { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: p.limit.timeUnit, unitTime: p.limit.unitTime, requestCount: p.limit.requestCount } }
      : { type: 'REQUESTCOUNTLIMIT', requestCount: null },
    ...(p.burst ? { rateLimitCount: p.burst.requestCount, rateLimitTimeUnit: p.burst.timeUnit } : { rateLimitCount: 0 }),
    stopOnQuotaReach: p.stopOnQuotaReach,
  };
}

export function applicationDto(a: Application) {
  return {
    applicationId: a.clientId,
    keyManager: a.keyManager,
    name: a.name,
    throttlingPolicy: 'Unlimited',
    status: 'APPROVED',
    owner: a.orgId,
    attributes: {
      software_id: a.softwareId,
      org_id: a.orgId,
      software_roles: a.roles.join(','),
      software_environment: a.environment,
      dcr_version: a.dcrVersion,
    },
    createdTime: new Date(a.createdAt * 1000).toISOString(),
    lastUpdatedTime: new Date(a.updatedAt * 1000).toISOString(),
  };
}

export function subscriptionDto(s: SubscriptionRecord) {
  return {
    subscriptionId: s.id,
    applicationId: s.clientId,
    keyManager: s.keyManager,
    apiId: s.apiId,
    throttlingPolicy: s.plan,
    status: s.state === 'ACTIVE' ? 'UNBLOCKED' : 'BLOCKED',
    createdTime: new Date(s.createdAt * 1000).toISOString(),
  };
}

const list = <T>(items: T[]) => ({ count: items.length, list: items, pagination: { offset: 0, limit: items.length, total: items.length } });

function planFromBody(b: z.infer<typeof policyBody>): Omit<PlanRecord, 'builtIn'> {
  if ((b.rateLimitCount ?? 0) > 0 && !b.rateLimitTimeUnit) throw fail('PLAN_INVALID', 'rateLimitCount needs rateLimitTimeUnit (sec or min)');
  return {
    name: b.policyName,
    displayName: b.displayName ?? b.policyName,
    description: b.description ?? '',
    limit: b.defaultLimit ? { ...b.defaultLimit.requestCount } : null,
    burst: (b.rateLimitCount ?? 0) > 0 ? { requestCount: b.rateLimitCount!, timeUnit: b.rateLimitTimeUnit! } : null,
    stopOnQuotaReach: b.stopOnQuotaReach ?? true,
  };
}

/** The uploaded file and the additionalProperties field of a multipart import. */
async function readImport(req: FastifyRequest, fileField: string): Promise<{ document: Buffer; props: z.infer<typeof additionalProperties> }> {
  if (!req.isMultipart())
    throw fail(
      'UNSUPPORTED_MEDIA_TYPE',
      `send multipart/form-data with a "${fileField}" part (the OpenAPI or Swagger document) and an optional "additionalProperties" part (JSON)`,
    );
  let document: Buffer | undefined;
  let props: unknown = {};
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== fileField) {
        part.file.resume();
        throw fail('MALFORMED_REQUEST', `unexpected file part; the document goes in "${fileField}"`);
      }
      document = await part.toBuffer();
    } else if (part.fieldname === 'additionalProperties') {
      try {
        props = JSON.parse(String(part.value));
      } catch {
        throw fail('MALFORMED_REQUEST', '"additionalProperties" is not JSON');
      }
    } else if (part.fieldname === fileField) {
      document = Buffer.from(String(part.value));
    }
  }
  if (!document) throw fail('MALFORMED_REQUEST', `the "${fileField}" part (the OpenAPI or Swagger document) is missing`);
  return { document, props: parseBody(additionalProperties, props) };
}

const settingsOf = (p: z.infer<typeof additionalProperties>): Partial<ApiSettings> => ({
  ...(p.name ? { name: p.name } : {}),
  ...(p.context ? { context: p.context } : {}),
  ...(p.version ? { version: p.version } : {}),
  ...(p.endpointConfig ? { backendUrl: p.endpointConfig.production_endpoints.url } : {}),
  ...(p.policies ? { plans: p.policies } : {}),
  ...(p.roles ? { roles: p.roles as ApiSettings['roles'] } : {}),
  ...(p.verifyJwsSignature === undefined ? {} : { verifyJwsSignature: p.verifyJwsSignature }),
  ...(p.serveConsents === undefined ? {} : { serveConsents: p.serveConsents }),
});

export function gatewayAdminRoutes(deps: { catalogue: Catalogue; keyManagers: KeyManagerAdmin; requireAdmin: RouteGuard; baseUrl: string }) {
  const { catalogue, keyManagers } = deps;
  return async function plugin(app: FastifyInstance): Promise<void> {
    await app.register(multipart, { limits: { fileSize: MAX_DOCUMENT_BYTES, files: 1, fields: 4, fieldSize: 64 * 1024, parts: 6 }, throwFileSizeLimit: true });
    app.addHook('onRequest', deps.requireAdmin);
    app.setErrorHandler(errorHandler('admin'));

    app.get('/api/am/openapi.json', async () => gatewayAdminOpenApi(deps.baseUrl));

    // Publisher.
    app.get(`${PUBLISHER}/apis`, async () => list((await catalogue.listApis()).map(apiDto)));
    app.post(`${PUBLISHER}/apis/import-openapi`, async (req, reply) => {
      const { document, props } = await readImport(req, 'file');
      const settings = settingsOf(props);
      if (!settings.backendUrl) throw fail('API_INVALID', 'additionalProperties.endpointConfig.production_endpoints.url (the backend URL) is required');
      const api = await catalogue.importApi(document, settings as ApiSettings);
      return reply.code(201).header('location', `${PUBLISHER}/apis/${api.id}`).send(apiDto(api));
    });
    app.get<{ Params: { id: string } }>(`${PUBLISHER}/apis/:id`, async (req) => apiDto(await catalogue.getApi(req.params.id)));
    // WSO2's PUT /apis/{id}: settings without a new document (backend, plans, roles, JWS checks, per-operation limits).
    app.put<{ Params: { id: string } }>(`${PUBLISHER}/apis/:id`, async (req) => {
      const b = parseBody(apiChangeBody, req.body);
      return apiDto(
        await catalogue.updateApi(req.params.id, {
          backendUrl: b.endpointConfig?.production_endpoints.url,
          plans: b.policies,
          roles: b.requiredRoles as ApiSettings['roles'],
          verifyJwsSignature: b.verifyJwsSignature,
          serveConsents: b.serveConsents,
          operationLimits: b.operations?.map((o) => ({
            method: o.verb,
            path: o.target,
            limit:
              o.throttlingLimit === null
                ? null
                : { requestCount: o.throttlingLimit.requestCount, unitTime: o.throttlingLimit.unitTime ?? 1, timeUnit: o.throttlingLimit.timeUnit },
          })),
        }),
      );
    });
    app.delete<{ Params: { id: string } }>(`${PUBLISHER}/apis/:id`, async (req, reply) => {
      await catalogue.deleteApi(req.params.id);
      return reply.code(200).send();
    });
    app.get<{ Params: { id: string } }>(`${PUBLISHER}/apis/:id/swagger`, async (req, reply) =>
      reply.type('application/json').send(await catalogue.getDocument(req.params.id)),
    );
    // Re-import: a new document version replaces the routes in one write (WSO2's PUT …/swagger, field apiDefinition).
    app.put<{ Params: { id: string } }>(`${PUBLISHER}/apis/:id/swagger`, async (req) => {
      const { document, props } = await readImport(req, 'apiDefinition');
      return apiDto(await catalogue.reimportApi(req.params.id, document, settingsOf(props)));
    });
    // Our addition: what a re-import would change, before it is applied (nothing is written).
    app.post<{ Params: { id: string } }>(`${PUBLISHER}/apis/:id/swagger/preview`, async (req) => {
      const { document, props } = await readImport(req, 'apiDefinition');
      return catalogue.previewReimport(req.params.id, document, settingsOf(props));
    });
    app.post<{ Querystring: { action?: string; apiId?: string; subscribeExisting?: string } }>(`${PUBLISHER}/apis/change-lifecycle`, async (req) => {
      const { action, apiId } = req.query;
      if (!action || !apiId) throw fail('MALFORMED_REQUEST', `query parameters action (${LIFECYCLE_ACTIONS.join(', ')}) and apiId are required`);
      const { api, subscribed } = await catalogue.changeLifecycle(apiId, action, { subscribeExisting: req.query.subscribeExisting === 'true' });
      return { lifecycleState: { state: api.state }, workflowStatus: null, subscribed };
    });
    app.post<{ Querystring: { subscriptionId?: string; blockState?: string } }>(`${PUBLISHER}/subscriptions/block-subscription`, async (req) => {
      if (!req.query.subscriptionId) throw fail('MALFORMED_REQUEST', 'query parameter subscriptionId is required');
      return subscriptionDto(await catalogue.setSubscriptionState(req.query.subscriptionId, 'BLOCKED'));
    });
    app.post<{ Querystring: { subscriptionId?: string } }>(`${PUBLISHER}/subscriptions/unblock-subscription`, async (req) => {
      if (!req.query.subscriptionId) throw fail('MALFORMED_REQUEST', 'query parameter subscriptionId is required');
      return subscriptionDto(await catalogue.setSubscriptionState(req.query.subscriptionId, 'ACTIVE'));
    });

    // Admin: business plans (subscription throttling policies).
    const POLICIES = `${ADMIN}/throttling/policies/subscription`;
    app.get(POLICIES, async () => list((await catalogue.listPlans()).map(policyDto)));
    app.post(POLICIES, async (req, reply) => {
      const plan = await catalogue.addPlan(planFromBody(parseBody(policyBody, req.body)));
      return reply.code(201).header('location', `${POLICIES}/${plan.name}`).send(policyDto(plan));
    });
    app.get<{ Params: { id: string } }>(`${POLICIES}/:id`, async (req) => policyDto(await catalogue.getPlan(req.params.id)));
    app.put<{ Params: { id: string } }>(`${POLICIES}/:id`, async (req) => {
      const body = parseBody(policyBody, req.body);
      if (body.policyName !== req.params.id) throw fail('PLAN_INVALID', 'policyName in the body must be the one in the path');
      return policyDto(await catalogue.updatePlan(planFromBody(body)));
    });
    app.delete<{ Params: { id: string } }>(`${POLICIES}/:id`, async (req, reply) => {
      await catalogue.removePlan(req.params.id);
      return reply.code(200).send();
    });

    // Devportal.
    app.get(`${DEVPORTAL}/apis`, async () => list((await catalogue.listApis()).filter((a) => a.state === 'PUBLISHED' || a.state === 'DEPRECATED').map(apiDto)));
    app.get<{ Querystring: { query?: string; limit?: string; offset?: string } }>(`${DEVPORTAL}/applications`, async (req) => {
      const limit = Number(req.query.limit ?? 25) || 25;
      const offset = Number(req.query.offset ?? 0) || 0;
      const page = await catalogue.listApplications({ search: req.query.query?.slice(0, 255), limit, offset });
      return { count: page.items.length, list: page.items.map(applicationDto), pagination: { offset, limit, total: page.total } };
    });
    app.get<{ Params: { id: string } }>(`${DEVPORTAL}/applications/:id`, async (req) => applicationDto(await catalogue.getApplication(req.params.id)));
    app.get<{ Querystring: { applicationId?: string; keyManager?: string; apiId?: string; limit?: string } }>(`${DEVPORTAL}/subscriptions`, async (req) =>
      list(
        (
          await catalogue.listSubscriptions({
            clientId: req.query.applicationId,
            keyManager: req.query.keyManager,
            apiId: req.query.apiId,
            limit: Number(req.query.limit ?? 1000) || 1000,
          })
        ).map(subscriptionDto),
      ),
    );
    app.get<{ Params: { id: string } }>(`${DEVPORTAL}/subscriptions/:id`, async (req) => subscriptionDto(await catalogue.getSubscription(req.params.id)));
    app.put<{ Params: { id: string } }>(`${DEVPORTAL}/subscriptions/:id`, async (req) =>
      subscriptionDto(await catalogue.setSubscriptionPlan(req.params.id, parseBody(subscriptionChange, req.body).throttlingPolicy)),
    );
    app.post(`${DEVPORTAL}/subscriptions`, async (req, reply) => {
      const b = parseBody(subscriptionBody, req.body);
      return reply.code(201).send(subscriptionDto(await catalogue.subscribe(b.applicationId, b.apiId, b.throttlingPolicy, b.keyManager)));
    });
    app.post(`${DEVPORTAL}/subscriptions/multiple`, async (req, reply) => {
      const list = parseBody(z.array(subscriptionBody).min(1).max(50), req.body);
      const made = [];
      for (const b of list) made.push(subscriptionDto(await catalogue.subscribe(b.applicationId, b.apiId, b.throttlingPolicy, b.keyManager)));
      return reply.code(200).send(made);
    });
    app.delete<{ Params: { id: string } }>(`${DEVPORTAL}/subscriptions/:id`, async (req, reply) => {
      await catalogue.unsubscribe(req.params.id);
      return reply.code(200).send();
    });

    // Admin: key managers.
    const KEY_MANAGERS = `${ADMIN}/key-managers`;
    app.get(KEY_MANAGERS, async () => list((await keyManagers.list()).map(keyManagerDto)));
    app.post(KEY_MANAGERS, async (req, reply) => {
      const km = await keyManagers.add(keyManagerInput(parseBody(keyManagerBody, req.body)));
      return reply
        .code(201)
        .header('location', `${KEY_MANAGERS}/${encodeURIComponent(km.name)}`)
        .send(keyManagerDto(km));
    });
    app.get<{ Params: { id: string } }>(`${KEY_MANAGERS}/:id`, async (req) => keyManagerDto(await keyManagers.get(req.params.id)));
    app.put<{ Params: { id: string } }>(`${KEY_MANAGERS}/:id`, async (req) => {
      // {enabled} alone enables or disables (the only change the resident key manager takes).
      const toggle = keyManagerEnable.safeParse(req.body);
      if (toggle.success) return keyManagerDto(await keyManagers.setEnabled(req.params.id, toggle.data.enabled));
      const b = parseBody(keyManagerBody, req.body);
      if (b.name !== req.params.id) throw fail('KEY_MANAGER_INVALID', 'name in the body must be the one in the path');
      return keyManagerDto(await keyManagers.replace(keyManagerInput(b)));
    });
    app.delete<{ Params: { id: string } }>(`${KEY_MANAGERS}/:id`, async (req, reply) => {
      await keyManagers.remove(req.params.id);
      return reply.code(200).send();
    });
  };
}
