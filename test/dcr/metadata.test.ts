/**
 * The client metadata rules (src/dcr/metadata/rules.ts) through their interpreter, without a
 * server: each rule family (required, WHEN, types, HTTPS URIs, allowed values, defaults,
 * cross-field rules, refused claims), the version differences, the order in which failures are
 * reported, and the client record a registration becomes. Every rejection asserts its code, wire
 * error and whole description.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { certificateSubjectDn } from '../../src/crypto/dn.ts';
import { createCertificateAuthority, issueClientCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { AppError } from '../../src/errors/app-error.ts';
import { toClientMetadata, validateMetadata, type MetadataContext } from '../../src/dcr/metadata/interpreter.ts';
import { METADATA_RULES, claimNames, type FieldRule } from '../../src/dcr/metadata/rules.ts';
import type { VerifiedSsa } from '../../src/dcr/ssa.ts';
import { versionFromPath, type DcrVersionProfile } from '../../src/dcr/versions/index.ts';

type Claims = Record<string, unknown>;

const base = loadConfig({ env: {} });
const withDcr = (dcr: Partial<Config['open_banking']['dcr']>): Config =>
  ({ ...base, open_banking: { ...base.open_banking, dcr: { ...base.open_banking.dcr, ...dcr } } }) as Config;
const version = (id: string): DcrVersionProfile => versionFromPath(id)!;

const SSA_REDIRECTS = ['https://tpp.example.com/cb', 'https://tpp.example.com/cb2'];
const ALL_SCOPES = ['openid', 'accounts', 'payments', 'fundsconfirmations'];

/** A valid v3.3 private_key_jwt request. */
const VALID: Claims = {
  redirect_uris: ['https://tpp.example.com/cb'],
  token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: 'PS256',
  grant_types: ['authorization_code', 'client_credentials', 'refresh_token'],
  response_types: ['code id_token'],
  scope: 'openid accounts',
  application_type: 'web',
  id_token_signed_response_alg: 'PS256',
  request_object_signing_alg: 'PS256',
};

let transport: IssuedCertificate;
/** The transport certificate's subject as it must be registered. */
let subjectDn: string;

before(async () => {
  const ca = await createCertificateAuthority({ subject: 'C=GB, O=Test Directory, CN=Test Issuing CA', validityDays: 2 });
  transport = await issueClientCertificate(ca, { subject: 'C=GB, O=Acme Ltd, OU=org-1, CN=software-1', validityDays: 2 });
  subjectDn = certificateSubjectDn(transport.x509);
});

function ssa(extra: Claims = {}): VerifiedSsa {
  return {
    raw: 'header.payload.signature',
    claims: {
      iss: 'OpenBanking Ltd',
      iat: 1_700_000_000,
      software_id: 'software-1',
      org_id: 'org-1',
      software_environment: 'sandbox',
      software_jwks_endpoint: 'https://keys.example.com/org-1/software-1.jwks',
      software_redirect_uris: SSA_REDIRECTS,
      software_roles: ['AISP', 'PISP'],
      ...extra,
    },
  };
}

interface Options {
  version?: string;
  config?: Config;
  ssa?: VerifiedSsa;
  offered?: readonly string[];
}

/** The context for `overrides` on the valid request (an override of undefined removes the claim). */
function ctx(overrides: Claims = {}, opts: Options = {}): MetadataContext {
  const claims: Claims = { ...VALID, ...overrides };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return {
    config: opts.config ?? base,
    version: version(opts.version ?? 'v3.3'),
    ssa: opts.ssa ?? ssa(),
    claims,
    certificate: transport.x509,
    availableScopes: opts.offered ?? ALL_SCOPES,
  };
}

const validate = (overrides: Claims = {}, opts: Options = {}) => validateMetadata(ctx(overrides, opts));

/** Asserts the exact coded error of `overrides`. */
function rejects(overrides: Claims, code: string, description: string, opts: Options = {}): void {
  assert.throws(
    () => validate(overrides, opts),
    (err: unknown) => {
      assert.ok(err instanceof AppError, String(err));
      assert.deepEqual(
        { code: err.code, status: err.status, error: err.error, description: err.description },
        { code, status: 400, error: code.startsWith('REDIRECT_URI_') ? 'invalid_redirect_uri' : 'invalid_client_metadata', description },
      );
      return true;
    },
  );
}

const TLS = { token_endpoint_auth_method: 'tls_client_auth', token_endpoint_auth_signing_alg: undefined };

describe('a valid request', () => {
  test('registers exactly its values', () => {
    assert.deepEqual(validate(), {
      redirect_uris: ['https://tpp.example.com/cb'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'PS256',
      grant_types: ['authorization_code', 'client_credentials', 'refresh_token'],
      response_types: ['code id_token'],
      scope: 'openid accounts',
      application_type: 'web',
      id_token_signed_response_alg: 'PS256',
      request_object_signing_alg: 'PS256',
    });
  });

  test('arrays and scope tokens are registered once each, in the order sent', () => {
    const m = validate({
      redirect_uris: ['https://tpp.example.com/cb2', 'https://tpp.example.com/cb', 'https://tpp.example.com/cb2'],
      grant_types: ['client_credentials', 'authorization_code', 'client_credentials'],
      response_types: ['code', 'code id_token', 'id_token code'],
      scope: 'payments  openid payments',
    });
    assert.deepEqual(m.redirect_uris, ['https://tpp.example.com/cb2', 'https://tpp.example.com/cb']);
    assert.deepEqual(m.grant_types, ['client_credentials', 'authorization_code']);
    assert.deepEqual(m.response_types, ['code', 'code id_token']);
    assert.equal(m.scope, 'payments openid');
  });
});

describe('required claims', () => {
  for (const [claim, code, description] of [
    ['token_endpoint_auth_method', 'METADATA_AUTH_METHOD_MISSING', 'token_endpoint_auth_method is required'],
    ['grant_types', 'METADATA_GRANT_TYPES_INVALID', 'grant_types must be a non-empty array'],
    ['application_type', 'METADATA_APPLICATION_TYPE_INVALID', 'application_type must be one of: web, mobile'],
    ['id_token_signed_response_alg', 'METADATA_ALG_MISSING', 'id_token_signed_response_alg is required'],
    ['request_object_signing_alg', 'METADATA_ALG_MISSING', 'request_object_signing_alg is required'],
  ] as const) {
    test(`${claim} missing`, () => rejects({ [claim]: undefined }, code, description));
  }

  test('the table requires exactly these, always', () => {
    const always = METADATA_RULES.filter((r): r is FieldRule => 'field' in r && r.required !== undefined && r.required.when === undefined);
    assert.deepEqual(
      always.map((r) => r.field),
      ['token_endpoint_auth_method', 'grant_types', 'application_type', 'id_token_signed_response_alg', 'request_object_signing_alg'],
    );
  });
});

describe('WHEN rules: token_endpoint_auth_method decides', () => {
  test('private_key_jwt requires token_endpoint_auth_signing_alg', () =>
    rejects({ token_endpoint_auth_signing_alg: undefined }, 'METADATA_ALG_MISSING', 'token_endpoint_auth_signing_alg is required'));

  test('tls_client_auth does not, and keeps one that is sent', () => {
    assert.equal(validate({ ...TLS, tls_client_auth_subject_dn: subjectDn }).token_endpoint_auth_signing_alg, undefined);
    assert.equal(
      validate({ ...TLS, tls_client_auth_subject_dn: subjectDn, token_endpoint_auth_signing_alg: 'PS256' }).token_endpoint_auth_signing_alg,
      'PS256',
    );
  });

  test('tls_client_auth requires the subject DN', () =>
    rejects(TLS, 'METADATA_SUBJECT_DN_MISSING', 'tls_client_auth_subject_dn is required for tls_client_auth'));

  test('a subject DN is refused with another method', () =>
    rejects(
      { tls_client_auth_subject_dn: subjectDn },
      'METADATA_SUBJECT_DN_UNEXPECTED',
      'tls_client_auth_subject_dn is only used with token_endpoint_auth_method tls_client_auth',
    ));

  test('the subject DN is registered as sent when it names the certificate (compared parsed)', () => {
    const reordered = 'OU=org-1, C=GB, CN=software-1, O=Acme Ltd';
    assert.equal(validate({ ...TLS, tls_client_auth_subject_dn: reordered }).tls_client_auth_subject_dn, reordered);
  });

  for (const [name, dn, code, description] of [
    ['empty', '', 'METADATA_SUBJECT_DN_MISSING', 'tls_client_auth_subject_dn is required for tls_client_auth'],
    ['not a string', 42, 'METADATA_SUBJECT_DN_MISSING', 'tls_client_auth_subject_dn is required for tls_client_auth'],
    ['longer than 512 characters', `CN=${'x'.repeat(510)}`, 'METADATA_SUBJECT_DN_INVALID', 'tls_client_auth_subject_dn is longer than 512 characters'],
    ['not a DN', 'no equals sign', 'METADATA_SUBJECT_DN_INVALID', 'tls_client_auth_subject_dn is not a valid distinguished name'],
  ] as const) {
    test(`a subject DN ${name}`, () => rejects({ ...TLS, tls_client_auth_subject_dn: dn }, code, description));
  }

  test("a subject DN that is not the certificate's names the one expected", () =>
    rejects(
      { ...TLS, tls_client_auth_subject_dn: 'CN=someone-else,O=Acme Ltd,C=GB' },
      'METADATA_SUBJECT_DN_MISMATCH',
      `tls_client_auth_subject_dn does not match the subject of the transport certificate presented; expected "${subjectDn}"`,
    ));
});

describe('types', () => {
  for (const [claim, value, code, description] of [
    ['token_endpoint_auth_method', 5, 'METADATA_AUTH_METHOD_MISSING', 'token_endpoint_auth_method is required'],
    ['token_endpoint_auth_method', '', 'METADATA_AUTH_METHOD_MISSING', 'token_endpoint_auth_method is required'],
    ['grant_types', 'client_credentials', 'METADATA_GRANT_TYPES_INVALID', 'grant_types must be a non-empty array'],
    ['grant_types', [], 'METADATA_GRANT_TYPES_INVALID', 'grant_types must be a non-empty array'],
    ['grant_types', ['client_credentials', ''], 'METADATA_GRANT_TYPES_INVALID', 'grant_types must be a non-empty array'],
    ['response_types', 'code id_token', 'METADATA_RESPONSE_TYPES_INVALID', 'response_types must be an array of strings'],
    ['response_types', ['code', 3], 'METADATA_RESPONSE_TYPES_INVALID', 'response_types must be an array of strings'],
    ['redirect_uris', 'https://tpp.example.com/cb', 'REDIRECT_URI_INVALID', 'redirect_uris must be a non-empty array'],
    ['redirect_uris', [], 'REDIRECT_URI_INVALID', 'redirect_uris must be a non-empty array'],
    ['scope', 42, 'METADATA_SCOPE_INVALID', 'scope must be a space-separated string'],
    ['scope', ['openid', 7], 'METADATA_SCOPE_INVALID', 'scope must be a space-separated string'],
    ['application_type', 3, 'METADATA_APPLICATION_TYPE_INVALID', 'application_type must be one of: web, mobile'],
    ['request_object_signing_alg', ['PS256'], 'METADATA_ALG_NOT_ALLOWED', 'request_object_signing_alg must be PS256 (FAPI 1.0 Advanced), not ["PS256"]'],
    ['id_token_signed_response_alg', '', 'METADATA_ALG_NOT_ALLOWED', 'id_token_signed_response_alg must be PS256 (FAPI 1.0 Advanced), not ""'],
  ] as const) {
    test(`${claim} = ${JSON.stringify(value)}`, () => rejects({ [claim]: value }, code, description));
  }
});

describe('redirect_uris: the HTTPS URI rules and the software statement', () => {
  const long = `https://tpp.example.com/${'a'.repeat(240)}`;
  for (const [name, uri, description] of [
    ['not a string', 7, 'redirect_uris must contain URL strings'],
    ['an empty string', '', 'redirect_uris must contain URL strings'],
    ['longer than 256 characters', long, 'a redirect URI may be at most 256 characters'],
    ['not a URL', 'tpp.example.com/cb', 'redirect URI tpp.example.com/cb is not a valid URL'],
    ['http', 'http://tpp.example.com/cb', 'redirect URI http://tpp.example.com/cb must use https'],
    ['another scheme', 'ftp://tpp.example.com/cb', 'redirect URI ftp://tpp.example.com/cb must use https'],
    ['localhost', 'https://localhost/cb', 'redirect URI https://localhost/cb must not point at localhost'],
    ['a *.localhost name', 'https://app.localhost/cb', 'redirect URI https://app.localhost/cb must not point at localhost'],
    ['127.0.0.1', 'https://127.0.0.1/cb', 'redirect URI https://127.0.0.1/cb must not point at localhost'],
    ['127.1.2.3', 'https://127.1.2.3/cb', 'redirect URI https://127.1.2.3/cb must not point at localhost'],
    ['[::1]', 'https://[::1]/cb', 'redirect URI https://[::1]/cb must not point at localhost'],
    ['a fragment', 'https://tpp.example.com/cb#x', 'redirect URI https://tpp.example.com/cb#x must not contain a fragment'],
    ['an empty fragment', 'https://tpp.example.com/cb#', 'redirect URI https://tpp.example.com/cb# must not contain a fragment'],
  ] as const) {
    test(`an element ${name}`, () => rejects({ redirect_uris: ['https://tpp.example.com/cb', uri] }, 'REDIRECT_URI_INVALID', description));
  }

  test('an element outside the software statement', () =>
    rejects(
      { redirect_uris: ['https://tpp.example.com/cb', 'https://elsewhere.example.com/cb'] },
      'REDIRECT_URI_NOT_IN_SSA',
      "redirect URI https://elsewhere.example.com/cb is not one of the software statement's software_redirect_uris",
    ));

  test('every element is checked before any is compared with the software statement', () =>
    rejects(
      { redirect_uris: ['https://elsewhere.example.com/cb', 'http://tpp.example.com/cb'] },
      'REDIRECT_URI_INVALID',
      'redirect URI http://tpp.example.com/cb must use https',
    ));

  test('omitted: the whole list of the software statement', () => assert.deepEqual(validate({ redirect_uris: undefined }).redirect_uris, SSA_REDIRECTS));

  test("the software statement's own list is held to the same rules, even when redirect_uris is omitted", () => {
    const plain = ssa({ software_redirect_uris: ['https://tpp.example.com/cb', 'http://plain.example.com/cb'] });
    for (const redirect_uris of [undefined, ['https://tpp.example.com/cb']]) {
      rejects({ redirect_uris }, 'REDIRECT_URI_INVALID', 'redirect URI http://plain.example.com/cb must use https', { ssa: plain });
    }
  });
});

describe('allowed values', () => {
  test('token_endpoint_auth_method: the enabled methods are listed', () => {
    for (const method of ['client_secret_basic', 'client_secret_post', 'none', 'magic_link']) {
      rejects(
        { token_endpoint_auth_method: method },
        'METADATA_AUTH_METHOD_NOT_ALLOWED',
        'token_endpoint_auth_method must be one of: private_key_jwt, tls_client_auth',
      );
    }
    const secrets = withDcr({ token_endpoint_auth_methods: ['private_key_jwt', 'client_secret_basic'] });
    assert.equal(validate({ token_endpoint_auth_method: 'client_secret_basic' }, { config: secrets }).token_endpoint_auth_method, 'client_secret_basic');
    rejects(
      { ...TLS, tls_client_auth_subject_dn: subjectDn },
      'METADATA_AUTH_METHOD_NOT_ALLOWED',
      'token_endpoint_auth_method must be one of: private_key_jwt, client_secret_basic',
      {
        config: secrets,
      },
    );
  });

  test('signing algorithms: [open_banking.dcr] signing_algorithms, never RS256 or none', () => {
    for (const alg of ['RS256', 'none', 'HS256', 'ES256']) {
      rejects(
        { id_token_signed_response_alg: alg },
        'METADATA_ALG_NOT_ALLOWED',
        `id_token_signed_response_alg must be PS256 (FAPI 1.0 Advanced), not "${alg}"`,
      );
    }
    const both = withDcr({ signing_algorithms: ['PS256', 'ES256'] });
    assert.equal(validate({ token_endpoint_auth_signing_alg: 'ES256' }, { config: both }).token_endpoint_auth_signing_alg, 'ES256');
    rejects(
      { token_endpoint_auth_signing_alg: 'RS256' },
      'METADATA_ALG_NOT_ALLOWED',
      'token_endpoint_auth_signing_alg must be PS256 or ES256 (FAPI 1.0 Advanced), not "RS256"',
      {
        config: both,
      },
    );
  });

  test('grant types: only those this server offers', () => {
    for (const grant of ['password', 'implicit', 'urn:openid:params:grant-type:ciba']) {
      rejects(
        { grant_types: ['client_credentials', grant] },
        'METADATA_GRANT_TYPE_UNSUPPORTED',
        `grant type ${grant} is not supported; use client_credentials, authorization_code and refresh_token`,
      );
    }
  });

  test('response types: "code id_token" and "code", tokens in any order', () => {
    assert.deepEqual(validate({ response_types: ['id_token code'] }).response_types, ['code id_token']);
    assert.deepEqual(validate({ response_types: ['code'] }).response_types, ['code']);
    for (const type of ['token', 'id_token', 'code token', 'code id_token token']) {
      rejects(
        { response_types: ['code id_token', type] },
        'METADATA_RESPONSE_TYPE_UNSUPPORTED',
        `response type "${type}" is not supported; FAPI allows "code id_token" and "code" (with JARM)`,
      );
    }
  });

  test('application_type: web or mobile (native is v3.4)', () => {
    assert.equal(validate({ application_type: 'mobile' }).application_type, 'mobile');
    rejects({ application_type: 'native' }, 'METADATA_APPLICATION_TYPE_INVALID', 'application_type must be one of: web, mobile');
  });
});

describe('cross-field rules', () => {
  test('refresh_token needs authorization_code', () =>
    rejects(
      { grant_types: ['client_credentials', 'refresh_token'], response_types: undefined },
      'METADATA_GRANT_TYPES_INCONSISTENT',
      'the refresh_token grant requires the authorization_code grant',
    ));

  test('response_types need authorization_code', () =>
    rejects({ grant_types: ['client_credentials'] }, 'METADATA_RESPONSE_TYPES_INCONSISTENT', 'response_types require the authorization_code grant'));

  test('authorization_code needs response_types (an empty list is not an omitted one)', () =>
    rejects({ response_types: [] }, 'METADATA_RESPONSE_TYPES_INCONSISTENT', 'the authorization_code grant requires response_types'));

  test('response_types omitted: "code id_token" with authorization_code, none without', () => {
    assert.deepEqual(validate({ response_types: undefined }).response_types, ['code id_token']);
    assert.deepEqual(validate({ grant_types: ['client_credentials'], response_types: undefined }).response_types, []);
    assert.deepEqual(validate({ grant_types: ['client_credentials'], response_types: [] }).response_types, []);
  });

  test('CIBA claims are refused (this server has no CIBA grant)', () => {
    for (const claim of ['backchannel_token_delivery_mode', 'backchannel_user_code_parameter_supported']) {
      rejects({ [claim]: 'poll' }, 'METADATA_CIBA_UNSUPPORTED', `${claim} is only used with the CIBA grant, which this server does not offer`);
    }
  });
});

describe('scope', () => {
  test('omitted: openid and the scopes the roles allow, of those offered', () => {
    assert.equal(validate({ scope: undefined }).scope, 'openid accounts payments');
    assert.equal(validate({ scope: undefined }, { ssa: ssa({ software_roles: ['CBPII'] }) }).scope, 'openid fundsconfirmations');
    assert.equal(validate({ scope: undefined }, { offered: ['accounts', 'fundsconfirmations'] }).scope, 'accounts');
  });

  test('omitted with nothing to default to', () =>
    rejects({ scope: undefined }, 'METADATA_SCOPE_EMPTY', 'scope must not be empty', { offered: ['fundsconfirmations'] }));

  for (const scope of ['', '   ', []]) {
    test(`empty: ${JSON.stringify(scope)}`, () => rejects({ scope }, 'METADATA_SCOPE_EMPTY', 'scope must not be empty'));
  }

  test('a scope outside Open Banking, or one the key manager does not offer', () => {
    rejects({ scope: 'openid transfers' }, 'METADATA_SCOPE_NOT_OFFERED', 'scope transfers is not offered to Open Banking clients');
    rejects({ scope: 'openid transfers' }, 'METADATA_SCOPE_NOT_OFFERED', 'scope transfers is not offered to Open Banking clients', {
      offered: [...ALL_SCOPES, 'transfers'],
    });
    rejects({ scope: 'openid payments' }, 'METADATA_SCOPE_NOT_OFFERED', 'scope payments is not offered to Open Banking clients', {
      offered: ['openid', 'accounts'],
    });
    rejects({ scope: `openid ${'x'.repeat(100)}` }, 'METADATA_SCOPE_NOT_OFFERED', `scope ${'x'.repeat(64)} is not offered to Open Banking clients`);
  });

  test('a scope whose role the software statement does not grant', () =>
    rejects(
      { scope: 'openid fundsconfirmations' },
      'METADATA_SCOPE_ROLE_MISSING',
      'scope fundsconfirmations needs the CBPII role, which the software statement does not grant',
    ));

  test('each token is checked in turn: the first failure wins', () =>
    rejects(
      { scope: 'fundsconfirmations transfers' },
      'METADATA_SCOPE_ROLE_MISSING',
      'scope fundsconfirmations needs the CBPII role, which the software statement does not grant',
    ));
});

describe('DCR versions', () => {
  test('v3.1 names the subject DN tls_client_auth_dn, and takes the later name too', () => {
    assert.deepEqual(claimNames(METADATA_RULES.find((r): r is FieldRule => 'field' in r && r.field === 'tls_client_auth_subject_dn')!, version('v3.1')), [
      'tls_client_auth_dn',
      'tls_client_auth_subject_dn',
    ]);
    assert.equal(validate({ ...TLS, tls_client_auth_dn: subjectDn }, { version: 'v3.1' }).tls_client_auth_subject_dn, subjectDn);
    assert.equal(validate({ ...TLS, tls_client_auth_subject_dn: subjectDn }, { version: 'v3.1' }).tls_client_auth_subject_dn, subjectDn);
    rejects(TLS, 'METADATA_SUBJECT_DN_MISSING', 'tls_client_auth_dn is required for tls_client_auth', { version: 'v3.1' });
    // The description names the version's own claim, whichever name was sent.
    rejects({ ...TLS, tls_client_auth_subject_dn: '' }, 'METADATA_SUBJECT_DN_MISSING', 'tls_client_auth_dn is required for tls_client_auth', {
      version: 'v3.1',
    });
    rejects(
      { tls_client_auth_dn: subjectDn },
      'METADATA_SUBJECT_DN_UNEXPECTED',
      'tls_client_auth_dn is only used with token_endpoint_auth_method tls_client_auth',
      {
        version: 'v3.1',
      },
    );
    rejects(
      { ...TLS, tls_client_auth_dn: 'CN=someone-else,C=GB' },
      'METADATA_SUBJECT_DN_MISMATCH',
      `tls_client_auth_dn does not match the subject of the transport certificate presented; expected "${subjectDn}"`,
      { version: 'v3.1' },
    );
  });

  test('from v3.2 tls_client_auth_dn is not read', () => {
    for (const v of ['v3.2', 'v3.3']) {
      rejects({ ...TLS, tls_client_auth_dn: subjectDn }, 'METADATA_SUBJECT_DN_MISSING', 'tls_client_auth_subject_dn is required for tls_client_auth', {
        version: v,
      });
      assert.equal(validate({ tls_client_auth_dn: subjectDn }, { version: v }).tls_client_auth_subject_dn, undefined);
    }
  });

  test('scope as the v3.1 array, accepted in every version and registered as a string', () => {
    for (const v of ['v3.1', 'v3.2', 'v3.3']) assert.equal(validate({ scope: ['openid', 'accounts'] }, { version: v }).scope, 'openid accounts');
  });

  test('the CIBA grant is defined from v3.3 but offered in none', () => {
    for (const v of ['v3.1', 'v3.2', 'v3.3']) {
      assert.equal(version(v).grantTypes.includes('urn:openid:params:grant-type:ciba'), v === 'v3.3');
      rejects(
        { grant_types: ['urn:openid:params:grant-type:ciba'] },
        'METADATA_GRANT_TYPE_UNSUPPORTED',
        'grant type urn:openid:params:grant-type:ciba is not supported; use client_credentials, authorization_code and refresh_token',
        { version: v },
      );
    }
  });
});

describe('order', () => {
  test('rules run in the order of the table: the first failure is reported', () => {
    const broken: Claims = {
      redirect_uris: ['http://tpp.example.com/cb'],
      token_endpoint_auth_method: undefined,
      grant_types: 'x',
      scope: 5,
      application_type: 'native',
      request_object_signing_alg: 'none',
    };
    rejects(broken, 'REDIRECT_URI_INVALID', 'redirect URI http://tpp.example.com/cb must use https');
    rejects({ ...broken, redirect_uris: undefined }, 'METADATA_AUTH_METHOD_MISSING', 'token_endpoint_auth_method is required');
    rejects(
      { ...broken, redirect_uris: undefined, token_endpoint_auth_method: 'private_key_jwt' },
      'METADATA_GRANT_TYPES_INVALID',
      'grant_types must be a non-empty array',
    );
    rejects(
      { ...broken, redirect_uris: undefined, token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], response_types: undefined },
      'METADATA_SCOPE_INVALID',
      'scope must be a space-separated string',
    );
  });
});

describe('the client record', () => {
  test('oidc-provider metadata plus the Open Banking members', () => {
    const s = ssa({ software_client_name: 'Acme App', org_name: 'Acme Ltd' });
    const c = ctx({}, { ssa: s });
    assert.deepEqual(toClientMetadata(validateMetadata(c), s, c.version), {
      redirect_uris: ['https://tpp.example.com/cb'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'PS256',
      grant_types: ['authorization_code', 'client_credentials', 'refresh_token'],
      response_types: ['code id_token'],
      scope: 'openid accounts',
      application_type: 'web',
      ob_application_type: 'web',
      id_token_signed_response_alg: 'PS256',
      request_object_signing_alg: 'PS256',
      authorization_signed_response_alg: 'PS256',
      jwks_uri: 'https://keys.example.com/org-1/software-1.jwks',
      tls_client_certificate_bound_access_tokens: true,
      client_name: 'Acme App',
      software_id: 'software-1',
      software_statement: 'header.payload.signature',
      org_id: 'org-1',
      org_name: 'Acme Ltd',
      software_roles: ['AISP', 'PISP'],
      software_environment: 'sandbox',
      software_jwks_endpoint: 'https://keys.example.com/org-1/software-1.jwks',
      registration_version: 'v3.3',
    });
  });

  test('the OB application_type, the subject DN, and no member for what is absent or not text', () => {
    const s = ssa({ software_client_name: 42, org_name: null });
    const c = ctx({ ...TLS, tls_client_auth_dn: subjectDn, application_type: 'mobile' }, { ssa: s, version: 'v3.1' });
    const record = toClientMetadata(validateMetadata(c), s, c.version);
    assert.equal(record['application_type'], 'web');
    assert.equal(record['ob_application_type'], 'mobile');
    assert.equal(record['tls_client_auth_subject_dn'], subjectDn);
    assert.equal(record['registration_version'], 'v3.1');
    for (const absent of ['token_endpoint_auth_signing_alg', 'client_name', 'org_name', 'tls_client_auth_dn']) assert.ok(!(absent in record), absent);
  });
});
