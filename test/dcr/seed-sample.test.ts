/**
 * A request shaped like the WSO2 UK toolkit's DCR sample (the seed): `application/jwt;
 * charset=ISO-8859-1`, an "OpenBanking Ltd" sandbox SSA whose keys live on the OB test keystore,
 * a PS256 request with a kid nobody here can fetch. Against the default directory settings (the
 * real OB keystore, unreachable from the test machine) it must be parsed and refused cleanly:
 * 400 invalid_software_statement naming the key set that could not be fetched, no 5xx, no
 * internals, nothing stored. The tokens are built here with a throwaway key, in the sample's shape.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import { randomBase62 } from '../../src/sandbox/ids.ts';
import { assertErrorResponse } from '../helpers/assert-error.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const OB_SANDBOX_DIRECTORY_JWKS = 'https://keystore.openbankingtest.org.uk/keystore/openbanking.jwks';
const ORG_ID = '0015800001HQQrZAAX';
const REDIRECT = 'https://www.google.com/redirects/redirect1';

let ts: TestServer;
let key: CryptoKey;
const softwareId = randomBase62(22);

before(async () => {
  ts = await startTestServer();
  ({ privateKey: key } = await generateKeyPair('PS256'));
});
after(() => ts?.close());

/** The sample's SSA claims (OB Directory profile), for this run's software id. */
function sampleSsaClaims(now: number): Record<string, unknown> {
  const keystore = `https://keystore.openbankingtest.org.uk/${ORG_ID}`;
  return {
    iss: 'OpenBanking Ltd',
    iat: now,
    jti: '3ab8f36b3c7a4e1c',
    software_environment: 'sandbox',
    software_mode: 'Test',
    software_id: softwareId,
    software_client_id: softwareId,
    software_client_name: 'WSO2 Open Banking TPP (Sandbox)',
    software_client_description: 'WSO2 Open Banking TPP for testing',
    software_version: 1.5,
    software_client_uri: 'https://www.google.com',
    software_redirect_uris: [REDIRECT],
    software_roles: ['PISP', 'AISP'],
    organisation_competent_authority_claims: {
      authority_id: 'OBGBR',
      registration_id: `Unknown${ORG_ID}`,
      status: 'Active',
      authorisations: [{ member_state: 'GB', roles: ['PISP', 'AISP'] }],
    },
    software_logo_uri: 'https://www.google.com/logo.png',
    org_status: 'Active',
    org_id: ORG_ID,
    org_name: 'WSO2 (UK) LIMITED',
    org_contacts: [{ name: 'Technical', email: 'technical@example.com', phone: '+94774274374', type: 'Technical' }],
    org_jwks_endpoint: `${keystore}/${ORG_ID}.jwks`,
    org_jwks_revoked_endpoint: `${keystore}/revoked/${ORG_ID}.jwks`,
    software_jwks_endpoint: `${keystore}/${softwareId}.jwks`,
    software_jwks_revoked_endpoint: `${keystore}/revoked/${softwareId}.jwks`,
    software_policy_uri: 'https://www.google.com/policy',
    software_tos_uri: 'https://www.google.com/tos',
    software_on_behalf_of_org: 'WSO2 Open Banking',
  };
}

async function sampleRequest(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const ssa = await new SignJWT(sampleSsaClaims(now)).setProtectedHeader({ alg: 'PS256', kid: 'e7tkxnnyKB7mg7cvqg9kCHCC3pQ', typ: 'JWT' }).sign(key);
  return new SignJWT({
    iss: softwareId,
    iat: now,
    exp: now + 3600,
    jti: String(Date.now()),
    aud: 'https://localbank.com',
    scope: 'accounts payments',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'PS256',
    grant_types: ['authorization_code', 'client_credentials', 'refresh_token'],
    software_id: softwareId,
    redirect_uris: [REDIRECT],
    response_types: ['code id_token'],
    id_token_signed_response_alg: 'PS256',
    request_object_signing_alg: 'PS256',
    application_type: 'web',
    software_statement: ssa,
  })
    .setProtectedHeader({ alg: 'PS256', kid: '7eJ8S_ZgvlYxFAFSghV9xMJROvk', typ: 'JWT' })
    .sign(key);
}

test('the WSO2 toolkit sample is refused with 400 invalid_software_statement: the directory key set cannot be fetched', async () => {
  const { storage } = ts.server;
  const clientsBefore = await storage.oidc.listIds('Client', 1000);
  const cert = await ts.issueClientCert(`C=GB, O=OpenBanking, OU=${ORG_ID}, CN=${softwareId}`);
  const register = async () =>
    ts.fetch('/open-banking/v3.3/register', {
      method: 'POST',
      headers: { 'content-type': 'application/jwt; charset=ISO-8859-1', accept: 'application/json' },
      body: await sampleRequest(),
      cert,
    });
  // The reason depends on this machine's closed network (no DNS answer, or a refusal); it is named.
  const first = await register();
  assert.equal(first.headers.get('cache-control'), 'no-store');
  const body = (await first.json()) as { error: string; error_description: string };
  assert.equal(first.status, 400);
  assert.match(
    body.error_description,
    new RegExp(
      `^the key set at ${OB_SANDBOX_DIRECTORY_JWKS.replace(/[.]/g, '\\.')} could not be fetched \\((host name not found|connection refused|network unreachable|timed out)\\); try again later$`,
    ),
  );
  const expected = { error: 'invalid_software_statement', error_description: body.error_description };
  assert.deepEqual(body, expected);
  // Again: a failed (and cached-as-failed) key set must give the same answer, not a 5xx.
  const second = await register();
  assert.equal(second.headers.get('cache-control'), 'no-store');
  await assertErrorResponse(second, 400, expected);

  assert.deepEqual(await storage.registrations.listBySoftware(softwareId), []);
  assert.deepEqual(await storage.oidc.listIds('Client', 1000), clientsBefore);
  const events = await storage.audit.list({ softwareId, limit: 10 });
  assert.deepEqual(
    events.map((e) => [e.event, e.reason, e.clientId]),
    [
      ['rejected', `${expected.error}: ${expected.error_description}`, null],
      ['rejected', `${expected.error}: ${expected.error_description}`, null],
    ],
  );
});
