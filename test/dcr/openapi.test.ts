import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COMPACT_JWS_PATTERN, DCR_VERSIONS, dcrOpenApi } from '../../src/dcr/openapi.ts';
import type { DcrVersion } from '../../src/dcr/openapi.ts';
import { compileComponentSchema, createAjv, createResponseValidator } from '../helpers/openapi.ts';

type Json = Record<string, unknown>;

const SSA = 'eyJhbGciOiJQUzI1NiIsImtpZCI6ImFiYyJ9.eyJpc3MiOiJPcGVuQmFua2luZyBMdGQifQ.c2lnbmF0dXJl';
const SOFTWARE_ID: Record<DcrVersion, string> = { 'v3.1': 'Qeyb9TC0IzLympA9mK', 'v3.2': 'Qeyb9TC0IzLympA9mKoSQ0', 'v3.3': 'Qeyb9TC0IzLympA9mKoSQ0' };

/** A 201 body as this server sends it: the registered metadata plus the flattened SSA claims. */
function successBody(version: DcrVersion): Json {
  return {
    client_id: '4b9cc1d0-4d5a-4f44-9d0e-6a2a3f8d8d11',
    client_id_issued_at: 1714000000,
    redirect_uris: ['https://tpp.example.com/cb'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'PS256',
    grant_types: ['authorization_code', 'client_credentials'],
    response_types: ['code id_token'],
    software_id: SOFTWARE_ID[version],
    scope: 'openid accounts',
    application_type: 'web',
    id_token_signed_response_alg: 'PS256',
    request_object_signing_alg: 'PS256',
    software_statement: SSA,
    jwks_uri: 'https://keystore.example.com/tpp/software.jwks',
    software_client_name: 'TPP app',
    software_version: 1.5,
    software_roles: ['AISP', 'PISP'],
    software_jwks_endpoint: 'https://keystore.example.com/tpp/software.jwks',
    software_environment: 'sandbox',
    software_mode: 'Test',
    org_id: '0015800001HQQrZAAX',
    org_name: 'TPP Ltd',
    org_status: 'Active',
  };
}

/** Every `$ref` in the document, with the JSON path where it sits. */
function collectRefs(value: unknown, path = '#'): Array<{ at: string; ref: string }> {
  if (Array.isArray(value)) return value.flatMap((v, i) => collectRefs(v, `${path}/${i}`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [{ at: path, ref: v }] : collectRefs(v, `${path}/${k}`)));
}

function resolvePointer(doc: unknown, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local refs: ${ref}`);
  let cur: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return undefined;
    cur = (cur as Json)[key];
  }
  return cur;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

for (const version of DCR_VERSIONS) {
  describe(`dcrOpenApi ${version}`, () => {
    const doc = dcrOpenApi(version, 'https://example.test/');
    const validate = createResponseValidator(version);

    it('is an OpenAPI 3.1 document with resolvable refs and responses on every operation', () => {
      assert.equal(doc.openapi, '3.1.0');
      assert.equal(doc.jsonSchemaDialect, 'https://json-schema.org/draft/2020-12/schema');
      assert.equal(typeof (doc.info as Json).title, 'string');
      assert.equal(typeof (doc.info as Json).version, 'string');
      assert.deepEqual(doc.servers, [{ url: `https://example.test/open-banking/${version}` }]);

      const refs = collectRefs(doc);
      assert.ok(refs.length > 20);
      for (const { at, ref } of refs) assert.notEqual(resolvePointer(doc, ref), undefined, `${at}: $ref ${ref} does not resolve`);

      const paths = doc.paths as Record<string, Json>;
      assert.deepEqual(Object.keys(paths).sort(), ['/register', '/register/{ClientId}']);
      const ops = Object.entries(paths).flatMap(([p, item]) => METHODS.filter((m) => m in item).map((m) => `${m} ${p}`));
      assert.deepEqual(ops.sort(), ['delete /register/{ClientId}', 'get /register/{ClientId}', 'post /register', 'put /register/{ClientId}']);
      for (const [p, item] of Object.entries(paths)) {
        for (const m of METHODS.filter((x) => x in item)) {
          const op = item[m] as Json;
          const responses = op.responses as Json;
          assert.ok(responses && Object.keys(responses).length > 0, `${m} ${p} has responses`);
          for (const code of Object.keys(responses)) assert.match(code, /^[1-5]\d\d$/);
        }
      }
    });

    it("declares each operation's status codes", () => {
      const paths = doc.paths as Record<string, Record<string, Json>>;
      const codes = (p: string, m: string) => Object.keys(paths[p]![m]!.responses as Json).sort();
      assert.deepEqual(codes('/register', 'post'), ['201', '400', '401', '403', '415', '500']);
      assert.deepEqual(codes('/register/{ClientId}', 'get'), ['200', '401', '403', '500']);
      assert.deepEqual(codes('/register/{ClientId}', 'put'), ['200', '400', '401', '403', '415', '500']);
      assert.deepEqual(codes('/register/{ClientId}', 'delete'), ['204', '401', '403', '500']);
      for (const [p, m] of [
        ['/register/{ClientId}', 'get'],
        ['/register/{ClientId}', 'put'],
        ['/register/{ClientId}', 'delete'],
        ['/register', 'post'],
      ] as const) {
        const r = resolvePointer(doc, (paths[p]![m]!.responses as Record<string, { $ref: string }>)['401']!.$ref) as Json;
        assert.ok((r.headers as Json)['WWW-Authenticate'], `${m} ${p} 401 declares WWW-Authenticate`);
      }
      const bearer401 = resolvePointer(doc, '#/components/responses/Unauthorized') as { headers: Record<string, { required: boolean }> };
      assert.equal(bearer401.headers['WWW-Authenticate']!.required, true);
    });

    it('takes a compact JWS as application/jose or application/jwt on POST and PUT', () => {
      const paths = doc.paths as Record<string, Record<string, Json>>;
      for (const op of [paths['/register']!.post!, paths['/register/{ClientId}']!.put!]) {
        const content = (op.requestBody as Json).content as Record<string, { schema: { $ref: string } }>;
        assert.deepEqual(Object.keys(content).sort(), ['application/jose', 'application/jwt']);
        for (const media of Object.values(content)) {
          const schema = resolvePointer(doc, media.schema.$ref) as Json;
          assert.equal(schema.type, 'string');
          assert.equal(schema.pattern, COMPACT_JWS_PATTERN);
        }
      }
      const jws = new RegExp(COMPACT_JWS_PATTERN);
      assert.match(SSA, jws);
      assert.doesNotMatch('{"iss":"x"}', jws);
      assert.doesNotMatch('a.b.c.d.e', jws);
    });

    it('secures POST with mTLS and GET/PUT/DELETE with mTLS plus a bearer token', () => {
      const paths = doc.paths as Record<string, Record<string, Json>>;
      assert.deepEqual(paths['/register']!.post!.security, [{ mutualTLS: [] }]);
      for (const m of ['get', 'put', 'delete']) assert.deepEqual(paths['/register/{ClientId}']![m]!.security, [{ mutualTLS: [], bearerAuth: [] }]);
      const schemes = (doc.components as Json).securitySchemes as Record<string, Json>;
      assert.equal(schemes.mutualTLS!.type, 'mutualTLS');
      assert.deepEqual([schemes.bearerAuth!.type, schemes.bearerAuth!.scheme], ['http', 'bearer']);
    });

    it('every component schema compiles with Ajv2020 in strict mode', () => {
      const ajv = createAjv();
      for (const name of Object.keys((doc.components as Json).schemas as Json)) compileComponentSchema(doc, name, ajv);
    });

    it('accepts a realistic success body for 201 (POST) and 200 (GET, PUT)', () => {
      validate(201, successBody(version), 'post');
      validate(200, successBody(version), 'get');
      validate(200, successBody(version), 'put');
      validate(204, undefined, 'delete');
    });

    it('accepts tls_client_auth and client_secret_basic registrations and RFC 7592 extras', () => {
      const { token_endpoint_auth_signing_alg: _alg, ...rest } = successBody(version);
      validate(
        201,
        { ...rest, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=abc,OU=0015800001HQQrZAAX,O=OpenBanking,C=GB' },
        'post',
      );
      validate(
        201,
        {
          ...rest,
          token_endpoint_auth_method: 'client_secret_basic',
          client_secret: 'x'.repeat(36),
          client_secret_expires_at: 0,
          registration_access_token: 'opaque-token',
          registration_client_uri: 'https://example.test/open-banking/v3.3/register/4b9cc1d0-4d5a-4f44-9d0e-6a2a3f8d8d11',
          software_version: '1.0',
        },
        'post',
      );
      validate(200, { ...successBody(version), response_types: ['code', 'code id_token'], scope: 'accounts openid' }, 'get');
    });

    const invalid: Array<[string, (b: Json) => Json]> = [
      ['client_id_issued_at as a string', (b) => ({ ...b, client_id_issued_at: '1714000000' })],
      ['id_token_signed_response_alg as an array', (b) => ({ ...b, id_token_signed_response_alg: ['PS256'] })],
      ['request_object_signing_alg RS256', (b) => ({ ...b, request_object_signing_alg: 'RS256' })],
      ['id_token_signed_response_alg RS256', (b) => ({ ...b, id_token_signed_response_alg: 'RS256' })],
      ['token_endpoint_auth_signing_alg RS256', (b) => ({ ...b, token_endpoint_auth_signing_alg: 'RS256' })],
      ["response_types ['token']", (b) => ({ ...b, response_types: ['token'] })],
      ['missing software_statement', ({ software_statement: _s, ...b }) => b],
      ['missing request_object_signing_alg', ({ request_object_signing_alg: _s, ...b }) => b],
      ['client_id of 37 characters', (b) => ({ ...b, client_id: 'c'.repeat(37) })],
      ['echoed iss', (b) => ({ ...b, iss: SOFTWARE_ID[version] })],
      ['echoed jti', (b) => ({ ...b, jti: '9c8fd1a6-2f4e-4c3b-9d35-7f1e2b0a9c11' })],
      ['echoed iat/exp', (b) => ({ ...b, iat: 1714000000, exp: 1714003600 })],
      ['echoed aud', (b) => ({ ...b, aud: 'https://example.test' })],
      ['scope as an array', (b) => ({ ...b, scope: ['openid', 'accounts'] })],
      ['empty scope', (b) => ({ ...b, scope: '' })],
      ['http redirect uri', (b) => ({ ...b, redirect_uris: ['http://tpp.example.com/cb'] })],
      ['empty redirect_uris', (b) => ({ ...b, redirect_uris: [] })],
      ['redirect uri over 256 characters', (b) => ({ ...b, redirect_uris: [`https://tpp.example.com/${'a'.repeat(240)}`] })],
      ['grant type implicit', (b) => ({ ...b, grant_types: ['implicit'] })],
      ['token_endpoint_auth_method client_secret_post', (b) => ({ ...b, token_endpoint_auth_method: 'client_secret_post' })],
      ['application_type native', (b) => ({ ...b, application_type: 'native' })],
      ['software_statement not a JWS', (b) => ({ ...b, software_statement: 'not-a-jws' })],
      ['client_secret without client_secret_expires_at', (b) => ({ ...b, client_secret: 's3cret' })],
      ['client_secret of 37 characters', (b) => ({ ...b, client_secret: 's'.repeat(37), client_secret_expires_at: 0 })],
      ['private_key_jwt without token_endpoint_auth_signing_alg', ({ token_endpoint_auth_signing_alg: _a, ...b }) => b],
      ['tls_client_auth without a subject DN', (b) => ({ ...b, token_endpoint_auth_method: 'tls_client_auth' })],
      ['software_id with a dash', (b) => ({ ...b, software_id: 'abc-def' })],
      ['a JSON array body', () => [] as unknown as Json],
    ];
    for (const [name, mutate] of invalid) {
      it(`rejects a success body with ${name}`, () => {
        assert.throws(() => validate(201, mutate(successBody(version)), 'post'), { name: 'AssertionError' });
        assert.throws(() => validate(200, mutate(successBody(version)), 'get'), { name: 'AssertionError' });
      });
    }

    it('lists the ajv errors in the assertion message', () => {
      assert.throws(
        () => validate(201, { ...successBody(version), client_id_issued_at: 'now' }, 'post'),
        (err: Error) => {
          assert.equal(err.name, 'AssertionError');
          assert.match(err.message, /\/client_id_issued_at must be integer/);
          return true;
        },
      );
      assert.throws(() => validate(201, { ...successBody(version), iss: 'abc' }, 'post'), /must not echo the request JWT claims/);
    });

    it('validates RegistrationError bodies', () => {
      validate(400, { error: 'invalid_client_metadata', error_description: 'iss must equal the software_id of the software statement' }, 'post');
      validate(400, { error: 'invalid_redirect_uri', error_description: 'redirect_uris must be a subset of the SSA' }, 'put');
      validate(401, { error: 'invalid_token', error_description: 'the access token is missing' }, 'get');
      validate(401, { error: 'invalid_client', error_description: 'a client certificate is required' }, 'post');
      validate(500, { error: 'server_error', error_description: 'unexpected error' }, 'get');
      assert.throws(() => validate(400, { error: 'invalid_client_metadata', error_description: 'x', stack: 'Error: at foo.ts:1:1' }, 'post'), {
        name: 'AssertionError',
      });
      assert.throws(() => validate(400, { error: 'invalid_client_metadata' }, 'post'), { name: 'AssertionError' });
      assert.throws(() => validate(400, { error: 'invalid_client_metadata', error_description: '' }, 'post'), { name: 'AssertionError' });
      assert.throws(() => validate(400, { error: 'invalid_client_metadata', error_description: 'x'.repeat(501) }, 'post'), { name: 'AssertionError' });
      assert.throws(() => validate(400, { error: 'bad_thing', error_description: 'x' }, 'post'), { name: 'AssertionError' });
      assert.throws(() => validate(401, '', 'get'), { name: 'AssertionError' });
    });

    it('rejects undeclared statuses and bodies on 204', () => {
      assert.throws(() => validate(404, { error: 'invalid_client', error_description: 'x' }, 'get'), /does not declare status 404/);
      assert.throws(() => validate(200, successBody(version), 'post'), /does not declare status 200/);
      assert.throws(() => validate(204, { ok: true }, 'delete'), { name: 'AssertionError' });
    });

    it('describes the request JWT claims', () => {
      const check = compileComponentSchema(doc, 'OBClientRegistrationRequest');
      const claims: Json = {
        iss: SOFTWARE_ID[version],
        iat: 1714000000,
        exp: 1714003600,
        aud: '0015800001041RHAAY',
        jti: '9c8fd1a6-2f4e-4c3b-9d35-7f1e2b0a9c11',
        software_statement: SSA,
        redirect_uris: ['https://tpp.example.com/cb'],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'PS256',
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code id_token'],
        scope: version === 'v3.1' ? ['openid', 'accounts'] : 'openid accounts',
        application_type: 'web',
        id_token_signed_response_alg: 'PS256',
        request_object_signing_alg: 'PS256',
        software_id: SOFTWARE_ID[version],
      };
      assert.ok(check(claims), JSON.stringify(check.errors));
      assert.equal(check({ ...claims, request_object_signing_alg: 'none' }), false);
      assert.equal(check({ ...claims, response_types: ['token'] }), false);
      assert.equal(check({ ...claims, scope: version === 'v3.1' ? 'openid accounts' : ['openid', 'accounts'] }), false);
      assert.equal(check({ ...claims, software_id: 'a'.repeat(version === 'v3.1' ? 19 : 23) }), false);
      const dnClaim = version === 'v3.1' ? 'tls_client_auth_dn' : 'tls_client_auth_subject_dn';
      const { token_endpoint_auth_signing_alg: _a, ...tls } = claims;
      assert.equal(check({ ...tls, token_endpoint_auth_method: 'tls_client_auth' }), false);
      assert.ok(check({ ...tls, token_endpoint_auth_method: 'tls_client_auth', [dnClaim]: 'CN=abc,O=OpenBanking,C=GB' }));
      assert.equal(check(tls), false, 'private_key_jwt needs token_endpoint_auth_signing_alg');
      const ciba = {
        ...claims,
        grant_types: ['urn:openid:params:grant-type:ciba'],
        backchannel_token_delivery_mode: 'poll',
        backchannel_authentication_request_signing_alg: 'PS256',
      };
      assert.equal(check(ciba), version === 'v3.3');
      if (version === 'v3.3') {
        assert.equal(check({ ...ciba, backchannel_token_delivery_mode: 'push' }), false);
        assert.equal(check({ ...ciba, backchannel_token_delivery_mode: 'ping' }), false, 'ping needs a notification endpoint');
        assert.ok(check({ ...ciba, backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'https://tpp.example.com/ciba' }));
        assert.equal(check({ ...claims, backchannel_token_delivery_mode: 'poll' }), false, 'backchannel_* only with the CIBA grant');
      }
    });
  });
}

describe('dcrOpenApi version differences', () => {
  it('responses echo the SSA software_id (22 characters) in every version; v3.1 requests document 18', () => {
    const body = { ...successBody('v3.2') };
    for (const v of ['v3.1', 'v3.2', 'v3.3'] as const) createResponseValidator(v)(201, body, 'post');
    assert.throws(() => createResponseValidator('v3.3')(201, { ...body, software_id: 'a'.repeat(23) }, 'post'), /software_id/);
    const request = (v: DcrVersion) =>
      ((((dcrOpenApi(v, 'https://x.test').components as Json).schemas as Json).OBClientRegistrationRequest as Json).properties as Json).software_id as Json;
    assert.equal(request('v3.1').maxLength, 18);
    assert.equal(request('v3.3').maxLength, 22);
  });

  it('v3.1 accepts tls_client_auth_dn as the DN claim in responses', () => {
    const { token_endpoint_auth_signing_alg: _a, ...rest } = successBody('v3.1');
    createResponseValidator('v3.1')(201, { ...rest, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_dn: 'CN=abc,O=OpenBanking,C=GB' }, 'post');
    assert.throws(() =>
      createResponseValidator('v3.2')(201, { ...successBody('v3.2'), token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_dn: 'CN=abc' }, 'post'),
    );
  });

  it('only v3.3 documents the backchannel_* claims', () => {
    const props = (v: DcrVersion) =>
      Object.keys((((dcrOpenApi(v, 'https://x.test').components as Json).schemas as Json).OBClientRegistrationRequest as Json).properties as Json);
    assert.ok(props('v3.3').includes('backchannel_token_delivery_mode'));
    assert.ok(!props('v3.2').includes('backchannel_token_delivery_mode'));
    assert.ok(props('v3.1').includes('tls_client_auth_dn'));
    assert.ok(!props('v3.2').includes('tls_client_auth_dn'));
  });

  it("documents the metadata rules' required claims and WHEN conditions, by each version's claim names", () => {
    const request = (v: DcrVersion) => ((dcrOpenApi(v, 'https://x.test').components as Json).schemas as Json).OBClientRegistrationRequest as Json;
    const always = ['token_endpoint_auth_method', 'grant_types', 'application_type', 'id_token_signed_response_alg', 'request_object_signing_alg'];
    const whenMethod = (method: string, then: Json) => ({
      if: { properties: { token_endpoint_auth_method: { const: method } }, required: ['token_endpoint_auth_method'] },
      then,
    });
    for (const v of DCR_VERSIONS) {
      assert.deepEqual(request(v).required, ['iss', 'iat', 'exp', 'aud', 'jti', 'software_statement', ...always]);
      assert.deepEqual((request(v).allOf as Json[]).slice(0, 2), [
        whenMethod('private_key_jwt', { required: ['token_endpoint_auth_signing_alg'] }),
        whenMethod(
          'tls_client_auth',
          v === 'v3.1'
            ? { anyOf: [{ required: ['tls_client_auth_dn'] }, { required: ['tls_client_auth_subject_dn'] }] }
            : { required: ['tls_client_auth_subject_dn'] },
        ),
      ]);
    }
  });

  it('rejects unknown versions', () => {
    assert.throws(() => dcrOpenApi('v3.4' as DcrVersion, 'https://x.test'), TypeError);
  });
});
