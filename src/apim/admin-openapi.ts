/**
 * OpenAPI 3.1 description of the gateway's admin REST APIs (admin-routes.ts), served at
 * /api/am/openapi.json. The paths and field names are WSO2 API Manager's (Publisher v4, Admin v4,
 * Devportal v3), so a bank's existing scripts and generated clients keep working.
 */
import { TPP_ROLES } from '../ob/roles.ts';
import { ADMIN, DEVPORTAL, PUBLISHER } from './admin-paths.ts';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const errors = {
  400: { description: 'Invalid input', ...json(ref('Error')) },
  401: { description: 'Administrator credentials missing or wrong', ...json(ref('Error')) },
  404: { description: 'Not found', ...json(ref('Error')) },
  409: { description: 'Conflict (exists, in use, lifecycle)', ...json(ref('Error')) },
};
const listOf = (item: string) => ({
  type: 'object',
  required: ['count', 'list'],
  properties: { count: { type: 'integer' }, list: { type: 'array', items: ref(item) }, pagination: { type: 'object' } },
});
const idParam = (name: string, description: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description });
const importBody = (field: string) => ({
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: [field],
        properties: {
          [field]: { type: 'string', format: 'binary', description: 'OpenAPI 3.x or Swagger 2.0 document, JSON or YAML (at most 8 MiB)' },
          additionalProperties: {
            type: 'string',
            description:
              'JSON: name, context, version, endpointConfig.production_endpoints.url (the backend, or internal:dcr), policies (plan names, first = default), roles, verifyJwsSignature, serveConsents (the OB consent resources served here)',
          },
        },
      },
    },
  },
});

export function gatewayAdminOpenApi(baseUrl: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'OpenDCR gateway administration',
      version: '1',
      description: 'WSO2 API Manager shaped Publisher, Admin and Devportal APIs for the gateway catalogue. HTTP Basic with the [super_admin] credentials.',
    },
    servers: [{ url: baseUrl }],
    security: [{ admin: [] }],
    paths: {
      [`${PUBLISHER}/apis`]: { get: { summary: 'List APIs', responses: { 200: { description: 'APIs', ...json(listOf('Api')) }, 401: errors[401] } } },
      [`${PUBLISHER}/apis/import-openapi`]: {
        post: {
          summary: 'Import an API from its OpenAPI/Swagger document',
          requestBody: importBody('file'),
          responses: { 201: { description: 'Imported (CREATED)', ...json(ref('Api')) }, ...errors },
        },
      },
      [`${PUBLISHER}/apis/{apiId}`]: {
        parameters: [idParam('apiId', 'API id')],
        get: { summary: 'Get an API', responses: { 200: { description: 'The API', ...json(ref('Api')) }, ...errors } },
        put: {
          summary: "Change an API's settings without a new document",
          requestBody: {
            required: true,
            ...json({
              type: 'object',
              properties: {
                endpointConfig: { type: 'object', properties: { production_endpoints: { type: 'object', properties: { url: { type: 'string' } } } } },
                policies: { type: 'array', items: { type: 'string' } },
                requiredRoles: { type: 'array', items: { type: 'string' } },
                verifyJwsSignature: { type: 'boolean' },
                serveConsents: { type: 'boolean', description: 'serve the OB consent resources of this API here; every other operation at the backend' },
                operations: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['target', 'verb', 'throttlingLimit'],
                    properties: {
                      target: { type: 'string' },
                      verb: { type: 'string' },
                      throttlingLimit: {
                        type: ['object', 'null'],
                        properties: { requestCount: { type: 'integer' }, unitTime: { type: 'integer' }, timeUnit: { enum: ['sec', 'min', 'hour', 'day'] } },
                      },
                    },
                  },
                },
              },
            }),
          },
          responses: { 200: { description: 'Changed', ...json(ref('Api')) }, ...errors },
        },
        delete: { summary: 'Delete an API and its subscriptions', responses: { 200: { description: 'Deleted' }, ...errors } },
      },
      [`${PUBLISHER}/apis/{apiId}/swagger`]: {
        parameters: [idParam('apiId', 'API id')],
        get: { summary: 'The imported document', responses: { 200: { description: 'Document (JSON)' }, ...errors } },
        put: {
          summary: 'Re-import: replace the document and routes in one write',
          requestBody: importBody('apiDefinition'),
          responses: { 200: { description: 'Updated', ...json(ref('Api')) }, ...errors },
        },
      },
      [`${PUBLISHER}/apis/{apiId}/swagger/preview`]: {
        parameters: [idParam('apiId', 'API id')],
        post: {
          summary: 'What a re-import of this document would change (operations added, removed, changed; roles); nothing is written',
          requestBody: importBody('apiDefinition'),
          responses: {
            200: {
              description: 'The changes',
              ...json({
                type: 'object',
                properties: {
                  documentVersion: { type: 'object' },
                  operations: {
                    type: 'object',
                    properties: {
                      added: { type: 'array', items: { type: 'string' } },
                      removed: { type: 'array', items: { type: 'string' } },
                      changed: { type: 'array', items: { type: 'object' } },
                      unchanged: { type: 'integer' },
                    },
                  },
                  requiredRoles: { type: 'object' },
                },
              }),
            },
            ...errors,
          },
        },
      },
      [`${PUBLISHER}/apis/change-lifecycle`]: {
        post: {
          summary: 'Lifecycle action',
          parameters: [
            {
              name: 'action',
              in: 'query',
              required: true,
              schema: { type: 'string', enum: ['Publish', 'Deprecate', 'Retire', 'Block', 'Re-Publish', 'Demote to Created'] },
            },
            { name: 'apiId', in: 'query', required: true, schema: { type: 'string' } },
            {
              name: 'subscribeExisting',
              in: 'query',
              required: false,
              schema: { type: 'boolean' },
              description: 'On Publish: subscribe every registration holding a required role',
            },
          ],
          responses: {
            200: {
              description: 'New state',
              ...json({
                type: 'object',
                properties: { lifecycleState: { type: 'object', properties: { state: { type: 'string' } } }, subscribed: { type: 'integer' } },
              }),
            },
            ...errors,
          },
        },
      },
      [`${PUBLISHER}/subscriptions/block-subscription`]: {
        post: {
          summary: 'Block a subscription',
          parameters: [
            { name: 'subscriptionId', in: 'query', required: true, schema: { type: 'string' } },
            { name: 'blockState', in: 'query', schema: { type: 'string', enum: ['BLOCKED'] } },
          ],
          responses: { 200: { description: 'Blocked', ...json(ref('Subscription')) }, ...errors },
        },
      },
      [`${PUBLISHER}/subscriptions/unblock-subscription`]: {
        post: {
          summary: 'Unblock a subscription',
          parameters: [{ name: 'subscriptionId', in: 'query', required: true, schema: { type: 'string' } }],
          responses: { 200: { description: 'Unblocked', ...json(ref('Subscription')) }, ...errors },
        },
      },
      [`${ADMIN}/throttling/policies/subscription`]: {
        get: { summary: 'List business plans', responses: { 200: { description: 'Plans', ...json(listOf('Policy')) }, 401: errors[401] } },
        post: {
          summary: 'Add a business plan',
          requestBody: { required: true, ...json(ref('PolicyInput')) },
          responses: { 201: { description: 'Added', ...json(ref('Policy')) }, ...errors },
        },
      },
      [`${ADMIN}/throttling/policies/subscription/{policyId}`]: {
        parameters: [idParam('policyId', 'Plan name')],
        get: { summary: 'Get a business plan', responses: { 200: { description: 'Plan', ...json(ref('Policy')) }, ...errors } },
        put: {
          summary: 'Change a custom business plan',
          requestBody: { required: true, ...json(ref('PolicyInput')) },
          responses: { 200: { description: 'Changed', ...json(ref('Policy')) }, ...errors },
        },
        delete: { summary: 'Remove a custom business plan (refused while in use)', responses: { 200: { description: 'Removed' }, ...errors } },
      },
      [`${ADMIN}/key-managers`]: {
        get: {
          summary: 'List key managers (the resident one and external ones)',
          responses: { 200: { description: 'Key managers', ...json(listOf('KeyManager')) }, 401: errors[401] },
        },
        post: {
          summary: 'Add an external key manager by its discovery URL (validated before it is saved)',
          requestBody: { required: true, ...json(ref('KeyManagerInput')) },
          responses: { 201: { description: 'Added', ...json(ref('KeyManager')) }, ...errors },
        },
      },
      [`${ADMIN}/key-managers/{keyManagerId}`]: {
        parameters: [idParam('keyManagerId', 'Key manager name')],
        get: { summary: 'Get a key manager', responses: { 200: { description: 'Key manager', ...json(ref('KeyManager')) }, ...errors } },
        put: {
          summary: 'Replace an external key manager (re-discovered), or send {"enabled": bool} alone to enable or disable any',
          requestBody: {
            required: true,
            ...json({ oneOf: [ref('KeyManagerInput'), { type: 'object', required: ['enabled'], properties: { enabled: { type: 'boolean' } } }] }),
          },
          responses: { 200: { description: 'Changed', ...json(ref('KeyManager')) }, ...errors },
        },
        delete: { summary: 'Remove an external key manager', responses: { 200: { description: 'Removed' }, ...errors } },
      },
      [`${DEVPORTAL}/applications`]: {
        get: {
          summary: 'Applications: the DCR registrations, newest first',
          parameters: [
            { name: 'query', in: 'query', schema: { type: 'string' }, description: 'A client id, software id or organisation id (exact)' },
            { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 1000 } },
            { name: 'offset', in: 'query', schema: { type: 'integer' } },
          ],
          responses: { 200: { description: 'Applications', ...json(listOf('Application')) }, 401: errors[401] },
        },
      },
      [`${DEVPORTAL}/applications/{applicationId}`]: {
        parameters: [idParam('applicationId', 'The DCR client id')],
        get: { summary: 'One application', responses: { 200: { description: 'Application', ...json(ref('Application')) }, ...errors } },
      },
      [`${DEVPORTAL}/apis`]: { get: { summary: 'Published APIs', responses: { 200: { description: 'APIs', ...json(listOf('Api')) }, 401: errors[401] } } },
      [`${DEVPORTAL}/subscriptions`]: {
        get: {
          summary: "Subscriptions of an application (a key manager's client id) or of an API",
          parameters: [
            { name: 'applicationId', in: 'query', schema: { type: 'string' } },
            { name: 'keyManager', in: 'query', schema: { type: 'string' }, description: "Only this key manager's applications" },
            { name: 'apiId', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 1000 } },
          ],
          responses: { 200: { description: 'Subscriptions', ...json(listOf('Subscription')) }, 401: errors[401] },
        },
        post: {
          summary: "Subscribe an application (a DCR client id, or an external key manager's client id) to a published API",
          requestBody: {
            required: true,
            ...json({
              type: 'object',
              required: ['applicationId', 'apiId'],
              properties: {
                applicationId: { type: 'string' },
                keyManager: { type: 'string', description: 'Whose client applicationId is; default: the resident key manager (a DCR client)' },
                apiId: { type: 'string' },
                throttlingPolicy: { type: 'string', description: "Default: the API's first plan" },
              },
            }),
          },
          responses: { 201: { description: 'Subscribed', ...json(ref('Subscription')) }, ...errors },
        },
      },
      [`${DEVPORTAL}/subscriptions/multiple`]: {
        post: {
          summary: 'Several subscriptions at once',
          requestBody: { required: true, ...json({ type: 'array', items: { type: 'object' } }) },
          responses: { 200: { description: 'Subscribed', ...json({ type: 'array', items: ref('Subscription') }) }, ...errors },
        },
      },
      [`${DEVPORTAL}/subscriptions/{subscriptionId}`]: {
        parameters: [idParam('subscriptionId', 'Subscription id')],
        get: { summary: 'Get a subscription', responses: { 200: { description: 'Subscription', ...json(ref('Subscription')) }, ...errors } },
        delete: { summary: 'Remove a subscription', responses: { 200: { description: 'Removed' }, ...errors } },
        put: {
          summary: 'Change the plan of a subscription',
          requestBody: { required: true, ...json({ type: 'object', required: ['throttlingPolicy'], properties: { throttlingPolicy: { type: 'string' } } }) },
          responses: { 200: { description: 'Changed', ...json(ref('Subscription')) }, ...errors },
        },
      },
    },
    components: {
      securitySchemes: { admin: { type: 'http', scheme: 'basic' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string', description: 'Stable error code (docs/errors.md)' }, message: { type: 'string' }, traceId: { type: 'string' } },
        },
        Api: {
          type: 'object',
          required: ['id', 'name', 'context', 'version', 'lifeCycleStatus', 'policies', 'endpointConfig', 'operations'],
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            context: { type: 'string' },
            version: { type: 'string' },
            lifeCycleStatus: { type: 'string', enum: ['CREATED', 'PUBLISHED', 'DEPRECATED', 'RETIRED', 'BLOCKED'] },
            policies: { type: 'array', items: { type: 'string' } },
            endpointConfig: {
              type: 'object',
              properties: { endpoint_type: { type: 'string' }, production_endpoints: { type: 'object', properties: { url: { type: 'string' } } } },
            },
            requiredRoles: { type: 'array', items: { type: 'string', enum: [...TPP_ROLES] } },
            verifyJwsSignature: { type: 'boolean' },
            serveConsents: { type: 'boolean', description: 'serve the OB consent resources of this API here; every other operation at the backend' },
            operations: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  target: { type: 'string' },
                  verb: { type: 'string' },
                  scopes: { type: 'array', items: { type: 'string' } },
                  flows: { type: 'array', items: { type: 'string' } },
                  idempotency: { type: 'boolean' },
                  jwsSignature: { type: 'boolean' },
                },
              },
            },
            documentHash: { type: 'string' },
            createdTime: { type: 'string', format: 'date-time' },
            lastUpdatedTime: { type: 'string', format: 'date-time' },
          },
        },
        PolicyInput: {
          type: 'object',
          required: ['policyName'],
          properties: {
            policyName: { type: 'string' },
            displayName: { type: 'string' },
            description: { type: 'string' },
            defaultLimit: {
              type: 'object',
              properties: {
                type: { const: 'REQUESTCOUNTLIMIT' },
                requestCount: {
                  type: 'object',
                  required: ['timeUnit', 'unitTime', 'requestCount'],
                  properties: { timeUnit: { enum: ['sec', 'min', 'hour', 'day'] }, unitTime: { type: 'integer' }, requestCount: { type: 'integer' } },
                },
              },
            },
            rateLimitCount: { type: 'integer', description: 'Burst: at most this many per rateLimitTimeUnit' },
            rateLimitTimeUnit: { enum: ['sec', 'min'] },
            stopOnQuotaReach: { type: 'boolean' },
          },
        },
        Policy: {
          allOf: [
            ref('PolicyInput'),
            { type: 'object', properties: { policyId: { type: 'string' }, builtIn: { type: 'boolean' }, isDeployed: { type: 'boolean' } } },
          ],
        },
        KeyManagerInput: {
          type: 'object',
          required: ['name', 'wellKnownEndpoint'],
          properties: {
            name: { type: 'string' },
            displayName: { type: 'string' },
            enabled: { type: 'boolean' },
            wellKnownEndpoint: { type: 'string', format: 'uri', description: 'Discovery document; its host must be in [oauth] allowed_outbound_hosts' },
            issuer: { type: 'string', description: 'When given, must equal the discovered issuer' },
            enableSelfValidationJWT: { type: 'boolean', description: 'true (default): JWTs checked with the key set; false: RFC 7662 introspection' },
            tokenValidation: {
              type: 'array',
              items: { type: 'object', required: ['type', 'value'], properties: { type: { enum: ['REFERENCE', 'JWT', 'CUSTOM'] }, value: { type: 'string' } } },
              description: 'Which tokens it owns (default: JWTs with its issuer)',
            },
            consumerKeyClaim: { type: 'string', description: 'Claim with the client id (default client_id)' },
            scopesClaim: { type: 'string', description: 'Claim with the scopes (default scope)' },
            additionalProperties: {
              type: 'object',
              properties: {
                introspection_client_id: { type: 'string' },
                introspection_client_secret: { type: 'string', writeOnly: true },
                audience: { type: 'string' },
                roles_claim: { type: 'string' },
              },
            },
          },
        },
        KeyManager: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            displayName: { type: 'string' },
            type: { enum: ['default', 'custom'] },
            enabled: { type: 'boolean' },
            issuer: { type: 'string' },
            wellKnownEndpoint: { type: ['string', 'null'] },
            endpoints: {
              type: 'object',
              properties: {
                jwks: { type: ['string', 'null'] },
                introspection: { type: ['string', 'null'] },
                token: { type: ['string', 'null'] },
                revoke: { type: ['string', 'null'] },
              },
            },
            enableSelfValidationJWT: { type: 'boolean' },
            tokenValidation: { type: 'array', items: { type: 'object' } },
            consumerKeyClaim: { type: 'string' },
            scopesClaim: { type: 'string' },
            additionalProperties: { type: 'object' },
          },
        },
        Application: {
          type: 'object',
          required: ['applicationId', 'keyManager', 'name', 'status', 'attributes'],
          properties: {
            applicationId: { type: 'string', description: 'The DCR client id' },
            keyManager: { type: 'string', description: 'The key manager whose client applicationId is; with applicationId it names the application' },
            name: { type: 'string' },
            throttlingPolicy: { type: 'string' },
            status: { type: 'string' },
            owner: { type: 'string', description: 'The organisation id' },
            attributes: {
              type: 'object',
              properties: {
                software_id: { type: 'string' },
                org_id: { type: 'string' },
                software_roles: { type: 'string' },
                software_environment: { type: 'string' },
                dcr_version: { type: 'string' },
              },
            },
            createdTime: { type: 'string', format: 'date-time' },
            lastUpdatedTime: { type: 'string', format: 'date-time' },
          },
        },
        Subscription: {
          type: 'object',
          required: ['subscriptionId', 'applicationId', 'keyManager', 'apiId', 'throttlingPolicy', 'status'],
          properties: {
            subscriptionId: { type: 'string' },
            applicationId: { type: 'string', description: 'The client_id' },
            keyManager: { type: 'string', description: 'The key manager whose client applicationId is; with applicationId it names the application' },
            apiId: { type: 'string' },
            throttlingPolicy: { type: 'string' },
            status: { enum: ['UNBLOCKED', 'BLOCKED'] },
            createdTime: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  };
}
