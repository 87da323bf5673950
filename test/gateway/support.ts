/** What gateway tests share: the official API files, admin calls (WSO2 shapes), importing and publishing. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormData } from 'undici';
import * as oidc from 'openid-client';
import { importPKCS8 } from 'jose';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { authorizeInBrowser } from '../helpers/browser.ts';
import { intentClaims } from '../../src/cli/psu-flow.ts';
import { fetchVia } from '../helpers/ob-client.ts';
import { tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';

export const SPEC = new URL('../../specs/', import.meta.url);
export const OB_FILES = {
  accounts: new URL('ob-read-write-openapi/v3.1.11/account-info-openapi.yaml', SPEC),
  payments: new URL('ob-read-write-openapi/v3.1.11/payment-initiation-openapi.yaml', SPEC),
  funds: new URL('ob-read-write-openapi/v3.1.11/confirmation-funds-openapi.yaml', SPEC),
  vrp: new URL('ob-read-write-openapi/v3.1.11/vrp-openapi.yaml', SPEC),
} as const;

export const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
export const ADMIN = basicAuth('admin', 'admin');

/** The fetch of a test server or host (path relative to its URL). */
export type ServerFetch = (path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }) => Promise<Response>;

export async function jsonOf(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, text.slice(0, 800));
  return JSON.parse(text) as Record<string, unknown>;
}

/** A multipart import body: the document in `field`, WSO2's additionalProperties beside it. */
export function importForm(field: string, document: string | Buffer | URL, props: Record<string, unknown>): FormData {
  const form = new FormData();
  form.set(field, new Blob([document instanceof URL ? readFileSync(document) : document]), 'api');
  form.set('additionalProperties', JSON.stringify(props));
  return form;
}

/** Imports `document` with `backend` (and other WSO2 additionalProperties), publishes it, returns the API. */
export async function publishApi(
  fetch: ServerFetch,
  document: string | Buffer | URL,
  backend: string,
  props: Record<string, unknown> = {},
  admin = ADMIN,
): Promise<Record<string, unknown>> {
  const api = await jsonOf(
    await fetch('/api/am/publisher/v4/apis/import-openapi', {
      method: 'POST',
      headers: { authorization: admin, 'x-requested-with': 'test' },
      body: importForm('file', document, { endpointConfig: { production_endpoints: { url: backend } }, ...props }),
    }),
    201,
  );
  const done = await jsonOf(
    await fetch(`/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId=${String(api['id'])}`, {
      method: 'POST',
      headers: { authorization: admin, 'x-requested-with': 'test' },
    }),
    200,
  );
  assert.deepEqual(done['lifecycleState'], { state: 'PUBLISHED' });
  return api;
}

/** An administrator's call through `fetch`, with `body` as JSON when given. */
export function adminCall(fetch: ServerFetch, path: string, method: string, body?: unknown, admin = ADMIN): Promise<Response> {
  return fetch(path, {
    method,
    headers: { authorization: admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Adds a business plan of `requestCount` per `timeUnit`. */
export async function addPlan(fetch: ServerFetch, name: string, requestCount: number, timeUnit: string, admin = ADMIN): Promise<void> {
  await jsonOf(
    await fetch('/api/am/admin/v4/throttling/policies/subscription', {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ policyName: name, defaultLimit: { requestCount: { timeUnit, unitTime: 1, requestCount } } }),
    }),
    201,
  );
}

/** The subscriptions of an application (a DCR client id). */
export async function subscriptionsOf(fetch: ServerFetch, clientId: string, admin = ADMIN): Promise<Array<Record<string, unknown>>> {
  return (await jsonOf(await fetch(`/api/am/devportal/v3/subscriptions?applicationId=${clientId}`, { headers: { authorization: admin } }), 200))[
    'list'
  ] as Array<Record<string, unknown>>;
}

/**
 * A PSU-authorised access token for a registered client and its consent `consentId`: a FAPI
 * authorization (JAR naming the consent, code id_token, PKCE) walked by the PSU's scripted browser
 * (every offered account chosen), exchanged with openid-client over the TPP's mTLS.
 */
export async function psuAccessToken(
  env: DcrEnvironment,
  tpp: SandboxTpp,
  clientId: string,
  scope: string,
  consentId: string,
  psu = { username: 'psu', password: 'psu' },
): Promise<string> {
  const key = await importPKCS8(tpp.signingKey.key.export({ type: 'pkcs8', format: 'pem' }).toString(), 'PS256');
  const signingKey = { key, kid: tpp.signingKey.kid };
  const config = await oidc.discovery(new URL(env.url), clientId, { id_token_signed_response_alg: 'PS256' }, oidc.PrivateKeyJwt(signingKey), {
    [oidc.customFetch]: fetchVia(env.ts.mtlsAgent(tlsOf(tpp.transport))),
  });
  oidc.useCodeIdTokenResponseType(config);
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = await oidc.buildAuthorizationUrlWithJAR(
    config,
    {
      redirect_uri: tpp.redirectUris[0]!,
      scope,
      nonce,
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      claims: JSON.stringify(intentClaims(consentId)),
    },
    signingKey,
  );
  const callback = await authorizeInBrowser(env.ts, url, psu);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
  return tokens.access_token;
}

/**
 * A gateway 401 for a token: no body, and a Bearer challenge (RFC 6750 §3) that says why in its
 * error_description; `null` for no token at all, whose challenge carries no error.
 */
export async function assertTokenRefused(res: Response, description: string | null, what?: string): Promise<void> {
  assert.equal(res.status, 401, what);
  assert.equal(await res.text(), '', what);
  assert.equal(
    res.headers.get('www-authenticate'),
    description === null ? 'Bearer realm="opendcr"' : `Bearer realm="opendcr", error="invalid_token", error_description="${description}"`,
    what,
  );
}

/** Gateway calls refused with `code`, counted in `opendcr_gateway_requests_total` (every API). */
export async function gatewayRefusals(fetch: ServerFetch, code: string): Promise<number> {
  const text = await (await fetch('/metrics')).text();
  let n = 0;
  for (const m of text.matchAll(/^opendcr_gateway_requests_total\{([^}]*)\} (\d+)$/gm)) if (m[1]!.includes(`code="${code}"`)) n += Number(m[2]);
  return n;
}
