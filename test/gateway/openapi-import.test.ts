import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ApiImportError, MAX_DOCUMENT_BYTES, importOpenApi } from '../../src/apim/openapi-import.ts';
import type { ImportedApi, OperationDef } from '../../src/storage/catalogue-records.ts';

type Json = Record<string, unknown>;

const SPEC = new URL('../../specs/', import.meta.url);
const OB_DIR = new URL('ob-read-write-openapi/v3.1.11/', SPEC);
const DCR_DIR = new URL('ob-dcr-openapi/', SPEC);

const readSpec = (dir: URL, file: string): string => readFileSync(new URL(file, dir), 'utf8');

/** Counts from the folder's README; the contexts are each file's servers[0].url. */
const OB_FILES = [
  { file: 'account-info-openapi.yaml', operations: 29, context: '/open-banking/v3.1/aisp', roles: ['AISP'] },
  { file: 'payment-initiation-openapi.yaml', operations: 41, context: '/open-banking/v3.1/pisp', roles: ['PISP'] },
  { file: 'confirmation-funds-openapi.yaml', operations: 4, context: '/open-banking/v3.1/cbpii', roles: ['CBPII'] },
  // The README says /open-banking/v3.1/vrp, but the file's servers[0].url is the PISP base path.
  { file: 'vrp-openapi.yaml', operations: 7, context: '/open-banking/v3.1/pisp', roles: ['PISP'] },
];

const CC = 'client_credentials';
const AC = 'authorization_code';
const OK = { '200': { description: 'ok' } };
const INFO = { title: 'Test API', version: '1.0.0' };
const OAUTH = {
  TPP: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: 'https://as.example/token', scopes: { accounts: 'a', payments: 'p' } } } },
  PSU: {
    type: 'oauth2',
    flows: {
      authorizationCode: { authorizationUrl: 'https://as.example/auth', tokenUrl: 'https://as.example/token', scopes: { accounts: 'a', payments: 'p' } },
    },
  },
};

/** A minimal valid OpenAPI 3.0 document with these paths. */
function oas3(paths: Json, extra: Json = {}): Json {
  return { openapi: '3.0.3', info: INFO, paths, components: { securitySchemes: OAUTH }, ...extra };
}

function get(extra: Json = {}): Json {
  return { responses: OK, ...extra };
}

function operation(api: ImportedApi, method: string, path: string): OperationDef {
  const found = api.operations.find((o) => o.method === method && o.path === path);
  assert.ok(found, `${method} ${path} imported`);
  return found;
}

async function importJson(doc: Json, options?: Parameters<typeof importOpenApi>[1]): Promise<ImportedApi> {
  return (await importOpenApi(JSON.stringify(doc), options)).api;
}

/** The problems of a rejected import (fails the test when it is accepted). */
async function problemsOf(input: string | Uint8Array | Json, options?: Parameters<typeof importOpenApi>[1]): Promise<string[]> {
  const text = typeof input === 'string' || input instanceof Uint8Array ? input : JSON.stringify(input);
  try {
    await importOpenApi(text, options);
  } catch (err) {
    assert.ok(err instanceof ApiImportError, `ApiImportError, got ${String(err)}`);
    assert.equal(err.name, 'ApiImportError');
    assert.equal(err.message, `invalid API document: ${err.problems[0]}`);
    assert.ok(err.problems.length >= 1 && err.problems.length <= 10);
    return err.problems;
  }
  assert.fail('the document was accepted');
}

function hasProblem(problems: string[], pattern: RegExp): void {
  assert.ok(
    problems.some((p) => pattern.test(p)),
    `a problem matching ${pattern} in ${JSON.stringify(problems)}`,
  );
}

describe('importOpenApi: OB Read/Write v3.1.11 files', () => {
  it('resolves the spec folder next to the repository', () => {
    assert.ok(readSpec(OB_DIR, 'account-info-openapi.yaml').startsWith('openapi:'));
  });

  for (const { file, operations, context, roles } of OB_FILES) {
    it(`imports ${file}: ${operations} operations under ${context}`, async () => {
      const { api } = await importOpenApi(readSpec(OB_DIR, file));
      assert.equal(api.format, 'openapi3');
      assert.equal(api.documentVersion, '3.1.11');
      assert.equal(api.operations.length, operations);
      assert.equal(api.context, context);
      assert.deepEqual(api.requiredRoles, roles);
      for (const op of api.operations) {
        assert.ok(op.path.startsWith('/'), op.path);
        assert.equal(op.security.length, 1, `${op.method} ${op.path} has one alternative`);
        assert.equal(op.limit, null);
        assert.ok(op.operationId, `${op.method} ${op.path} has an operationId`);
      }
    });
  }

  it('reads account-info flows and scopes', async () => {
    const { api } = await importOpenApi(readSpec(OB_DIR, 'account-info-openapi.yaml'));
    assert.equal(api.name, 'Account and Transaction API Specification');
    assert.deepEqual(operation(api, 'GET', '/accounts'), {
      method: 'GET',
      path: '/accounts',
      operationId: 'GetAccounts',
      security: [{ flow: AC, scopes: ['accounts'] }],
      idempotency: false,
      jwsSignature: false,
      limit: null,
      // The header parameters it declares (passed to the backend), and no request body (a body is refused).
      headers: ['authorization', 'x-customer-user-agent', 'x-fapi-auth-date', 'x-fapi-customer-ip-address', 'x-fapi-interaction-id'],
      body: null,
    });
    assert.deepEqual(operation(api, 'POST', '/account-access-consents'), {
      method: 'POST',
      path: '/account-access-consents',
      operationId: 'CreateAccountAccessConsents',
      security: [{ flow: CC, scopes: ['accounts'] }],
      idempotency: false,
      jwsSignature: false,
      limit: null,
      headers: ['authorization', 'x-customer-user-agent', 'x-fapi-auth-date', 'x-fapi-customer-ip-address', 'x-fapi-interaction-id'],
      // `application/json; charset=utf-8` and `application/json` are one media type.
      body: { types: ['application/jose+jwe', 'application/json'] },
    });
    assert.deepEqual(operation(api, 'GET', '/accounts/{AccountId}/transactions').security, [{ flow: AC, scopes: ['accounts'] }]);
  });

  it('reads the payments headers (x-idempotency-key, x-jws-signature) through $ref parameters', async () => {
    const { api } = await importOpenApi(readSpec(OB_DIR, 'payment-initiation-openapi.yaml'));
    assert.deepEqual(operation(api, 'POST', '/domestic-payments'), {
      method: 'POST',
      path: '/domestic-payments',
      operationId: 'CreateDomesticPayments',
      security: [{ flow: AC, scopes: ['payments'] }],
      idempotency: true,
      jwsSignature: true,
      limit: null,
      headers: [
        'authorization',
        'x-customer-user-agent',
        'x-fapi-auth-date',
        'x-fapi-customer-ip-address',
        'x-fapi-interaction-id',
        'x-idempotency-key',
        'x-jws-signature',
      ],
      body: { types: ['application/jose+jwe', 'application/json'] },
    });
    const consent = operation(api, 'POST', '/domestic-payment-consents');
    assert.deepEqual(consent.security, [{ flow: CC, scopes: ['payments'] }]);
    assert.equal(consent.idempotency, true);
    assert.equal(consent.jwsSignature, true);
    const read = operation(api, 'GET', '/domestic-payments/{DomesticPaymentId}');
    assert.deepEqual(read.security, [{ flow: CC, scopes: ['payments'] }]);
    assert.equal(read.idempotency, false);
    assert.equal(read.jwsSignature, false);
    const posts = api.operations.filter((o) => o.method === 'POST');
    assert.ok(posts.length > 0 && posts.every((o) => o.idempotency && o.jwsSignature), 'every payments POST declares both headers');
  });

  it('reads confirmation-of-funds and VRP operations', async () => {
    const cof = (await importOpenApi(readSpec(OB_DIR, 'confirmation-funds-openapi.yaml'))).api;
    assert.deepEqual(operation(cof, 'POST', '/funds-confirmations').security, [{ flow: AC, scopes: ['fundsconfirmations'] }]);
    assert.deepEqual(operation(cof, 'POST', '/funds-confirmation-consents').security, [{ flow: CC, scopes: ['fundsconfirmations'] }]);
    const vrp = (await importOpenApi(readSpec(OB_DIR, 'vrp-openapi.yaml'))).api;
    const payment = operation(vrp, 'POST', '/domestic-vrps');
    assert.equal(payment.idempotency, true);
    assert.equal(payment.jwsSignature, true);
    assert.deepEqual(
      vrp.operations.flatMap((o) => o.security.flatMap((a) => a.scopes)).filter((s) => s !== 'payments'),
      [],
    );
  });

  it('returns the document as parsed: not dereferenced, not mutated', async () => {
    const text = readSpec(OB_DIR, 'account-info-openapi.yaml');
    const { document } = await importOpenApi(text);
    assert.deepEqual(document, parseYaml(text));
    const accounts = (document.paths as Json)['/accounts'] as { get: { parameters: Array<{ $ref?: string }> } };
    assert.ok(accounts.get.parameters.some((p) => typeof p.$ref === 'string' && p.$ref.startsWith('#/components/parameters/')));
  });
});

describe('importOpenApi: OB DCR files', () => {
  for (const version of ['v3.1', 'v3.2', 'v3.3']) {
    for (const name of ['openapi', 'swagger']) {
      for (const ext of ['json', 'yaml']) {
        const file = `${version}/client-registration-${name}.${ext}`;
        it(`imports ${file}`, async () => {
          const bytes = readFileSync(new URL(file, DCR_DIR));
          const { api, document } = await importOpenApi(bytes);
          assert.equal(api.format, name === 'openapi' ? 'openapi3' : 'swagger2');
          assert.equal(api.name, 'Dynamic Client Registration API');
          assert.equal(api.context, null);
          assert.deepEqual(api.requiredRoles, []);
          const summary = api.operations.map((o) => [o.method, o.path, o.security, o.idempotency, o.jwsSignature, o.limit]);
          const token = [{ flow: CC, scopes: [] }];
          assert.deepEqual(summary, [
            ['POST', '/register', [], false, false, null],
            ['GET', '/register/{ClientId}', token, false, false, null],
            ['PUT', '/register/{ClientId}', token, false, false, null],
            ['DELETE', '/register/{ClientId}', token, false, false, null],
          ]);
          const text = bytes.toString('utf8');
          assert.deepEqual(document, ext === 'json' ? JSON.parse(text) : parseYaml(text));
        });
      }
    }
  }
});

describe('importOpenApi: reading operations', () => {
  it('operation security overrides the document security; [] means no token', async () => {
    const api = await importJson(
      oas3(
        {
          '/a': { get: get(), post: get({ security: [] }), put: get({ security: [{ TPP: ['payments', 'accounts', 'payments'] }] }) },
        },
        { security: [{ PSU: ['accounts'] }, { PSU: ['accounts'] }] },
      ),
    );
    assert.deepEqual(operation(api, 'GET', '/a').security, [{ flow: AC, scopes: ['accounts'] }]);
    assert.deepEqual(operation(api, 'POST', '/a').security, []);
    assert.deepEqual(operation(api, 'PUT', '/a').security, [{ flow: CC, scopes: ['accounts', 'payments'] }]);
    assert.deepEqual(api.requiredRoles, ['AISP', 'PISP']);
  });

  it('a scheme with both client credentials and authorization code flows gives two alternatives', async () => {
    const both = { type: 'oauth2', flows: { ...OAUTH.TPP.flows, ...OAUTH.PSU.flows } };
    const api = await importJson(
      oas3(
        { '/a': { get: get({ security: [{ Both: ['accounts'] }, { TPP: ['accounts'] }] }) } },
        { components: { securitySchemes: { ...OAUTH, Both: both } } },
      ),
    );
    assert.deepEqual(operation(api, 'GET', '/a').security, [
      { flow: CC, scopes: ['accounts'] },
      { flow: AC, scopes: ['accounts'] },
    ]);
  });

  it('an empty requirement or a mutualTLS-only one makes the operation tokenless; mutualTLS beside oauth2 adds nothing', async () => {
    const api = await importJson({
      openapi: '3.1.0',
      info: INFO,
      paths: {
        '/open': { get: get({ security: [{}, { PSU: ['accounts'] }] }) },
        '/mtls': { get: get({ security: [{ MTLS: [] }] }) },
        '/both': { get: get({ security: [{ MTLS: [], TPP: ['payments'] }] }) },
      },
      components: { securitySchemes: { ...OAUTH, MTLS: { type: 'mutualTLS' } } },
    });
    assert.deepEqual(operation(api, 'GET', '/open').security, []);
    assert.deepEqual(operation(api, 'GET', '/mtls').security, []);
    assert.deepEqual(operation(api, 'GET', '/both').security, [{ flow: CC, scopes: ['payments'] }]);
  });

  it('maps Swagger 2 flows: application, accessCode and implicit', async () => {
    const api = await importJson({
      swagger: '2.0',
      info: INFO,
      basePath: '/base/v2/',
      securityDefinitions: {
        App: { type: 'oauth2', flow: 'application', tokenUrl: 'https://as.example/token', scopes: { fundsconfirmations: 'f' } },
        Code: { type: 'oauth2', flow: 'accessCode', authorizationUrl: 'https://as.example/auth', tokenUrl: 'https://as.example/token', scopes: { x: 'x' } },
        Implicit: { type: 'oauth2', flow: 'implicit', authorizationUrl: 'https://as.example/auth', scopes: {} },
      },
      security: [{ App: ['fundsconfirmations'] }],
      paths: {
        '/a': { get: get(), post: get({ security: [{ Code: ['x'] }, { Implicit: [] }] }) },
      },
    });
    assert.equal(api.format, 'swagger2');
    assert.equal(api.context, '/base/v2');
    assert.deepEqual(operation(api, 'GET', '/a').security, [{ flow: CC, scopes: ['fundsconfirmations'] }]);
    assert.deepEqual(operation(api, 'POST', '/a').security, [
      { flow: AC, scopes: ['x'] },
      { flow: AC, scopes: [] },
    ]);
    assert.deepEqual(api.requiredRoles, ['CBPII'], 'unknown scopes add no role');
  });

  it('finds the OB headers case-insensitively, also on the path item', async () => {
    const idem = { name: 'X-Idempotency-Key', in: 'header', required: true, schema: { type: 'string' } };
    const jws = { name: 'x-JWS-signature', in: 'header', schema: { type: 'string' } };
    const query = { name: 'x-jws-signature', in: 'query', schema: { type: 'string' } };
    const api = await importJson(
      oas3({
        '/a': { parameters: [idem], post: get({ parameters: [jws] }), get: get({ parameters: [query] }) },
      }),
    );
    assert.deepEqual([operation(api, 'POST', '/a').idempotency, operation(api, 'POST', '/a').jwsSignature], [true, true]);
    assert.deepEqual([operation(api, 'GET', '/a').idempotency, operation(api, 'GET', '/a').jwsSignature], [true, false]);
  });

  it('reads x-throttling-limit (unitTime defaults to 1)', async () => {
    const api = await importJson(
      oas3({
        '/a': {
          get: get({ 'x-throttling-limit': { requestCount: 10, timeUnit: 'min' } }),
          post: get({ 'x-throttling-limit': { requestCount: 5, unitTime: 2, timeUnit: 'hour' } }),
        },
      }),
    );
    assert.deepEqual(operation(api, 'GET', '/a').limit, { requestCount: 10, unitTime: 1, timeUnit: 'min' });
    assert.deepEqual(operation(api, 'POST', '/a').limit, { requestCount: 5, unitTime: 2, timeUnit: 'hour' });
  });

  it('reads the context from servers[0]: absolute or relative URL, variables, trailing slash, root', async () => {
    const contextOf = async (servers: unknown[] | undefined) => (await importJson(oas3({ '/a': { get: get() } }, servers ? { servers } : {}))).context;
    assert.equal(await contextOf([{ url: 'https://api.bank.example/open-banking/v3.1/aisp' }, { url: '/other' }]), '/open-banking/v3.1/aisp');
    assert.equal(await contextOf([{ url: '/open-banking/v3.1/aisp/' }]), '/open-banking/v3.1/aisp');
    assert.equal(await contextOf([{ url: 'open-banking/v3.1' }]), '/open-banking/v3.1');
    assert.equal(
      await contextOf([
        { url: 'https://{host}/ob/{version}', variables: { host: { default: 'bank.example' }, version: { default: 'v3.1', enum: ['v3.1', 'v4.0'] } } },
      ]),
      '/ob/v3.1',
    );
    assert.equal(await contextOf([{ url: 'https://bank.example' }]), null);
    assert.equal(await contextOf([{ url: '/' }]), null);
    assert.equal(await contextOf(undefined), null);
  });

  it("returns the roles given instead of the scopes' roles, sorted and deduplicated", async () => {
    const doc = oas3({ '/a': { get: get({ security: [{ PSU: ['accounts'] }] }) } });
    assert.deepEqual((await importJson(doc)).requiredRoles, ['AISP']);
    assert.deepEqual((await importJson(doc, { roles: ['PISP', 'CBPII', 'PISP'] })).requiredRoles, ['CBPII', 'PISP']);
    assert.deepEqual((await importJson(doc, { roles: [] })).requiredRoles, []);
    const problems = await problemsOf(doc, { roles: ['AISP', 'TPP' as never] });
    assert.deepEqual(problems, ['options.roles: unknown role TPP (expected one of AISP, PISP, CBPII, ASPSP)']);
  });

  it('does not mutate or dereference the returned document', async () => {
    const doc = oas3(
      { '/a': { get: get({ parameters: [{ $ref: '#/components/parameters/Id' }] }) } },
      { components: { securitySchemes: OAUTH, parameters: { Id: { name: 'x-jws-signature', in: 'header', schema: { type: 'string' } } } } },
    );
    const text = JSON.stringify(doc);
    const { api, document } = await importOpenApi(text);
    assert.equal(operation(api, 'GET', '/a').jwsSignature, true);
    assert.deepEqual(document, JSON.parse(text));
  });
});

describe('importOpenApi: rejected documents', () => {
  it('a YAML syntax error, by line and column without quoting the text', async () => {
    const problems = await problemsOf('openapi: 3.0.3\ninfo:\n  title: [secret-title\n  version: 1\n');
    hasProblem(problems, /^document: syntax error at line \d+, column \d+/);
    assert.ok(problems.every((p) => !p.includes('secret-title')));
  });

  it('a JSON syntax error, by line and column', async () => {
    const problems = await problemsOf('{\n  "openapi": "3.0.3",\n  "info": { "title": "secret-title",\n');
    hasProblem(problems, /^document: syntax error at line \d+, column \d+/);
    assert.ok(problems.every((p) => !p.includes('secret-title')));
  });

  it('duplicate keys (YAML and JSON)', async () => {
    hasProblem(await problemsOf('openapi: 3.0.3\nopenapi: 3.0.3\n'), /line 2, column 1/);
    assert.deepEqual(await problemsOf('{"openapi": "3.0.3",\n "info": {}, "openapi": "3.1.0"}'), ['document: duplicate key openapi at line 2, column 14']);
  });

  it('a root that is not an object', async () => {
    assert.deepEqual(await problemsOf('[1, 2]'), ['document: the root must be an object, not an array']);
    assert.deepEqual(await problemsOf('just text'), ['document: the root must be an object, not string']);
    assert.deepEqual(await problemsOf(''), ['document: the root must be an object, not null']);
  });

  it('not an OpenAPI 3.0/3.1 or Swagger 2.0 document', async () => {
    hasProblem(await problemsOf({ info: INFO, paths: {} }), /^document: not an OpenAPI 3 or Swagger 2.0 document/);
    assert.deepEqual(await problemsOf({ ...oas3({ '/a': { get: get() } }), openapi: '3.2.0' }), [
      'openapi: version 3.2.0 is not supported (expected 3.0.x or 3.1.x)',
    ]);
    assert.deepEqual(await problemsOf({ swagger: '1.2', info: INFO, paths: {} }), ['swagger: version 1.2 is not supported (expected "2.0")']);
  });

  it('missing info, as reported by the parser, with the JSON path instead of a code frame', async () => {
    const doc = oas3({ '/a': { get: get() } });
    delete doc.info;
    assert.deepEqual(await problemsOf(doc), ["document: must have required property 'info'"]);
    const problems = await problemsOf(oas3({ '/a': { get: get({ responsez: OK }) } }, { servers: [{ urll: '/x' }] }));
    assert.deepEqual(problems, ["servers[0]: must have required property 'url'", 'paths./a.get.responsez: must NOT have additional properties']);
  });

  it("the parser's own checks (duplicate operationId, missing $ref target)", async () => {
    hasProblem(await problemsOf(oas3({ '/a': { get: get({ operationId: 'x' }) }, '/b': { get: get({ operationId: 'x' }) } })), /operationId `x` is duplicated/);
    hasProblem(await problemsOf(oas3({ '/a': { get: get({ parameters: [{ $ref: '#/components/parameters/Nope' }] }) } })), /#\/components\/parameters\/Nope/);
  });

  it('an unknown security scheme', async () => {
    const problems = await problemsOf(oas3({ '/accounts': { get: get({ security: [{ TPPAuth: ['accounts'] }] }) } }));
    assert.deepEqual(problems, ['paths./accounts.get.security[0]: unknown security scheme TPPAuth']);
    const inherited = await problemsOf(oas3({ '/a': { get: get(), post: get() } }, { security: [{ PSU: [] }, { Nope: [] }] }));
    assert.deepEqual(inherited, ['security[1]: unknown security scheme Nope'], 'reported once for the document-level requirement');
  });

  it('security schemes the gateway cannot enforce', async () => {
    const schemes = {
      ...OAUTH,
      Bearer: { type: 'http', scheme: 'bearer' },
      Key: { type: 'apiKey', name: 'key', in: 'header' },
      Oidc: { type: 'openIdConnect', openIdConnectUrl: 'https://as.example/.well-known/openid-configuration' },
      Password: { type: 'oauth2', flows: { password: { tokenUrl: 'https://as.example/token', scopes: {} } } },
    };
    const problems = await problemsOf(
      oas3(
        {
          '/a': { get: get({ security: [{ Bearer: [] }] }), put: get({ security: [{ Key: [] }] }), post: get({ security: [{ Oidc: [] }] }) },
          '/b': { get: get({ security: [{ Password: [] }] }), post: get({ security: [{ TPP: [], PSU: [] }] }) },
        },
        { components: { securitySchemes: schemes } },
      ),
    );
    assert.deepEqual(problems, [
      'paths./a.get.security[0]: security scheme Bearer of type http is not supported by the gateway (use oauth2)',
      'paths./a.put.security[0]: security scheme Key of type apiKey is not supported by the gateway (use oauth2)',
      'paths./a.post.security[0]: security scheme Oidc of type openIdConnect is not supported by the gateway (use oauth2)',
      'paths./b.get.security[0]: security scheme Password has no client credentials, authorization code or implicit flow',
      'paths./b.post.security[0]: requires tokens of several oauth2 schemes at once (TPP, PSU); list them as separate requirements',
    ]);
  });

  it('two templated paths that are one route', async () => {
    const param = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
    const problems = await problemsOf(
      oas3({
        '/a/{x}': { get: get({ parameters: [param('x')] }) },
        '/a/{y}': { get: get({ parameters: [param('y')] }), post: get({ parameters: [param('y')] }) },
      }),
    );
    assert.deepEqual(problems, ['paths./a/{y}.get: same route as GET /a/{x} (paths that differ only in parameter names are one route)']);
  });

  it('a malformed path template, or one the gateway would never route', async () => {
    // Segments the gateway refuses on the way in (src/gateway/path.ts), and `*`, which its router reads as a wildcard.
    const bad = ['/a/{x', '/b/{}', '/', '/c//d', '/e/', '/f/../g', '/h/.', '/i/*', '/j/%2F', '/k/a;b', '/l/a b', '/m/\\', '/n/é', '/o?x=1', '/p#q'];
    // An import lists its first 10 problems: two documents.
    for (const some of [bad.slice(0, 8), bad.slice(8)]) {
      const problems = await problemsOf(
        oas3({ ...Object.fromEntries(some.map((p) => [p, { get: get() }])), '/ok': { get: get() }, "/ok/x.y/a-b_c~d!$&'()+,=:@": { get: get() } }),
      );
      assert.equal(problems.length, some.length, problems.join('\n'));
      for (const p of some) hasProblem(problems, new RegExp(`^paths\\.${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: malformed path template`));
    }
  });

  for (const ref of ['https://example.invalid/x.json', 'file:///etc/passwd', './common.yaml#/components/parameters/Id']) {
    it(`an external $ref (${ref}), without fetching it`, async () => {
      const fetchSpy = mock.method(globalThis, 'fetch', async () => {
        throw new Error('fetch must not be called');
      });
      try {
        const problems = await problemsOf(oas3({ '/a': { get: get({ parameters: [{ $ref: ref }] }) } }));
        assert.deepEqual(problems, [`paths./a.get.parameters[0].$ref: external reference ${ref} is not allowed (only local #/… references are resolved)`]);
        assert.equal(fetchSpy.mock.callCount(), 0);
      } finally {
        fetchSpy.mock.restore();
      }
    });
  }

  it('a document larger than MAX_DOCUMENT_BYTES (text or bytes)', async () => {
    const big = `openapi: 3.0.3\n#${'x'.repeat(MAX_DOCUMENT_BYTES)}\n`;
    assert.deepEqual(await problemsOf(big), [`document: larger than ${MAX_DOCUMENT_BYTES} bytes`]);
    assert.deepEqual(await problemsOf(new Uint8Array(MAX_DOCUMENT_BYTES + 1)), [`document: larger than ${MAX_DOCUMENT_BYTES} bytes`]);
    // Counted in UTF-8 bytes: 3 MiB of a 3-byte character is 9 MiB.
    assert.deepEqual(await problemsOf(`#${'€'.repeat(3 * 1024 * 1024)}`), [`document: larger than ${MAX_DOCUMENT_BYTES} bytes`]);
  });

  it('bytes that are not UTF-8', async () => {
    assert.deepEqual(await problemsOf(new Uint8Array([0x6f, 0x70, 0xff, 0xfe])), ['document: not UTF-8 text']);
  });

  it('a bad x-throttling-limit', async () => {
    const problems = await problemsOf(
      oas3({
        '/a': {
          get: get({ 'x-throttling-limit': { requestCount: 0, unitTime: 1.5, timeUnit: 'week', burst: 1 } }),
          post: get({ 'x-throttling-limit': 100 }),
        },
      }),
    );
    assert.deepEqual(problems, [
      'paths./a.get.x-throttling-limit.burst: unknown field (must be { requestCount, unitTime?, timeUnit } with positive integers and timeUnit sec|min|hour|day)',
      'paths./a.get.x-throttling-limit.requestCount: must be a positive integer',
      'paths./a.get.x-throttling-limit.unitTime: must be a positive integer',
      'paths./a.get.x-throttling-limit.timeUnit: must be one of sec, min, hour, day',
      'paths./a.post.x-throttling-limit: must be { requestCount, unitTime?, timeUnit } with positive integers and timeUnit sec|min|hour|day',
    ]);
  });

  it('zero operations', async () => {
    assert.deepEqual(await problemsOf(oas3({})), ['paths: the document declares no operations']);
    assert.deepEqual(await problemsOf(oas3({ '/a': { summary: 'nothing here' }, '/b': { trace: get() } })), ['paths: the document declares no operations']);
    const webhooksOnly = { openapi: '3.1.0', info: INFO, webhooks: { ping: { post: get() } } };
    assert.deepEqual(await problemsOf(webhooksOnly), ['paths: the document declares no operations']);
  });

  it('lists only the first 10 of more problems', async () => {
    const paths: Json = {};
    for (let i = 0; i < 12; i++) paths[`/p${i}`] = { get: get({ security: [{ [`Scheme${i}`]: [] }] }) };
    let caught: unknown;
    try {
      await importOpenApi(JSON.stringify(oas3(paths)));
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ApiImportError);
    assert.equal(caught.problems.length, 10);
    assert.equal(caught.problems[0], 'paths./p0.get.security[0]: unknown security scheme Scheme0');
    assert.equal(caught.problems[9], 'paths./p9.get.security[0]: unknown security scheme Scheme9');
    assert.equal(caught.message, 'invalid API document: paths./p0.get.security[0]: unknown security scheme Scheme0');
  });

  it('quotes at most a short piece of the document in a problem', async () => {
    const name = `Scheme${'x'.repeat(5000)}`;
    const problems = await problemsOf(oas3({ [`/${'y'.repeat(5000)}`]: { get: get({ security: [{ [name]: [] }] }) } }));
    assert.equal(problems.length, 1);
    assert.ok(problems[0]!.length <= 240, `${problems[0]!.length} chars`);
    const parser = await problemsOf(oas3({ '/a': { get: get({ responses: { '200': { description: 'z'.repeat(5000), bogus: 'q'.repeat(5000) } } }) } }));
    assert.ok(
      parser.every((p) => p.length <= 240 && !p.includes('qqqqqqqqqq')),
      JSON.stringify(parser),
    );
  });

  it('YAML that is not JSON data: a self-containing alias, binary', async () => {
    hasProblem(
      await problemsOf('openapi: 3.0.3\ninfo: &i\n  title: t\n  version: "1"\n  self: *i\npaths: {}\n'),
      /^info\.self: a YAML alias makes the document contain itself/,
    );
    hasProblem(await problemsOf('openapi: 3.0.3\ninfo: {title: t, version: "1", x-blob: !!binary aGVsbG8=}\npaths: {}\n'), /^info\.x-blob: not JSON data/);
  });

  it('$refs that expand exponentially, before the validator walks them', async () => {
    const schemas: Json = { S40: { type: 'string' } };
    for (let i = 0; i < 40; i++) {
      schemas[`S${i}`] = { type: 'object', properties: { a: { $ref: `#/components/schemas/S${i + 1}` }, b: { $ref: `#/components/schemas/S${i + 1}` } } };
    }
    const doc = oas3({ '/a': { get: get() } }, { components: { securitySchemes: OAUTH, schemas } });
    assert.deepEqual(await problemsOf(doc), ['document: its $refs expand to more than 1000000 nodes']);
  });
});
