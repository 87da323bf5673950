/**
 * Consents for tests, the way a TPP gets them: the official OB files published through the
 * gateway with their consents served here, a consent created with the TPP's client-credentials
 * token, and the PSU's authorization request naming it (`openbanking_intent_id`), walked by the
 * scripted browser of src/cli/psu-flow.ts and exchanged with openid-client over the TPP's mTLS.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { importPKCS8 } from 'jose';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { intentClaims, walkConsentPages, type AccountChoice, type ConsentPage, type PageStep, type Psu } from '../../src/cli/psu-flow.ts';
import { fetchVia } from './ob-client.ts';
import { tlsOf, type DcrEnvironment } from './dcr.ts';
import { publishApi, SPEC, type ServerFetch } from '../gateway/support.ts';
import type { Storage } from '../../src/storage/ports.ts';
import type { ConsentKind, ConsentRecord } from '../../src/storage/consent-records.ts';
import { RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';

export const CONSENT_FILES = {
  accounts: new URL('ob-read-write-openapi/v3.1.11/account-info-openapi.yaml', SPEC),
  payments: new URL('ob-read-write-openapi/v3.1.11/payment-initiation-openapi.yaml', SPEC),
  vrp: new URL('ob-read-write-openapi/v3.1.11/vrp-openapi.yaml', SPEC),
  funds: new URL('ob-read-write-openapi/v3.1.11/confirmation-funds-openapi.yaml', SPEC),
  events: new URL('ob-read-write-openapi/v4.0.x/events-openapi.yaml', SPEC),
} as const;

/** Where each file's consents are (its context and the scope of its tokens). */
export const CONSENT_APIS = {
  accounts: { context: '/open-banking/v3.1/aisp', scope: 'accounts' },
  payments: { context: '/open-banking/v3.1/pisp', scope: 'payments' },
  vrp: { context: '/open-banking/v3.1/vrp', scope: 'payments' },
  funds: { context: '/open-banking/v3.1/cbpii', scope: 'fundsconfirmations' },
  events: { context: '/open-banking/v4.0', scope: 'accounts' },
} as const;
export type ConsentApi = keyof typeof CONSENT_APIS;

/** Publishes the OB files (default the four consent APIs) with their consents (and event polling) served here, in front of `backend`. */
export async function publishConsentApis(
  env: DcrEnvironment,
  backend: string,
  apis: readonly ConsentApi[] = ['accounts', 'payments', 'vrp', 'funds'],
): Promise<void> {
  const admin: ServerFetch = (path, init) => env.ts.fetch(path, init as never);
  // VRP's file names the PIS context: it is published beside the payments on a context of its own.
  for (const api of apis)
    await publishApi(admin, CONSENT_FILES[api], backend, { serveConsents: true, ...(api === 'vrp' ? { context: CONSENT_APIS.vrp.context } : {}) });
}

/** An account access consent's request body, ending in 30 days unless `over` says otherwise. */
export const accountAccessBody = (over: Record<string, unknown> = {}) => ({
  Data: {
    Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits'],
    ExpirationDateTime: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    ...over,
  },
  Risk: {},
});

/** A domestic payment consent's request body (`debtor`: the account it must be paid from). */
export const domesticPaymentBody = (debtor?: { SchemeName: string; Identification: string }) => ({
  Data: {
    Initiation: {
      InstructionIdentification: 'ACME412',
      EndToEndIdentification: 'FRESCO.21302.GFX.20',
      InstructedAmount: { Amount: '165.88', Currency: 'GBP' },
      CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '08080021325698', Name: 'ACME Inc' },
      RemittanceInformation: { Reference: 'FRESCO-101' },
      ...(debtor ? { DebtorAccount: debtor } : {}),
    },
  },
  Risk: { PaymentContextCode: 'EcommerceGoods' },
});

/** A domestic VRP consent's request body: sweeping, 100 GBP a payment, 300 GBP a month. */
export const domesticVrpBody = () => ({
  Data: {
    ControlParameters: {
      ValidFromDateTime: new Date(Date.now() - 60_000).toISOString(),
      ValidToDateTime: new Date(Date.now() + 180 * 86_400_000).toISOString(),
      MaximumIndividualAmount: { Amount: '100.00', Currency: 'GBP' },
      PeriodicLimits: [{ Amount: '300.00', Currency: 'GBP', PeriodAlignment: 'Calendar', PeriodType: 'Month' }],
      VRPType: ['UK.OBIE.VRPType.Sweeping'],
      PSUAuthenticationMethods: ['UK.OBIE.SCA'],
    },
    Initiation: {
      CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '30949330000010', Name: 'Marcus Sweepimus' },
      RemittanceInformation: { Reference: 'Sweepco' },
    },
  },
  Risk: { PaymentContextCode: 'PartyToParty' },
});

/** The TPP's registered application: its client id and one client-credentials token per scope. */
export interface ConsentTpp {
  readonly tpp: SandboxTpp;
  readonly clientId: string;
}

/** Registers `tpp` through DCR (its default request claims): its application. */
export async function registerConsentTpp(env: DcrEnvironment, tpp: SandboxTpp): Promise<ConsentTpp> {
  const res = await env.register(tpp, await env.validRequestClaims(tpp));
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return { tpp, clientId: String((JSON.parse(text) as { client_id: string }).client_id) };
}

const tokens = new WeakMap<SandboxTpp, Map<string, string>>();

/** A client-credentials token of `who` for `scope`, kept per TPP and scope. */
export async function ccTokenFor(env: DcrEnvironment, who: ConsentTpp, scope: string): Promise<string> {
  const mine = tokens.get(who.tpp) ?? new Map<string, string>();
  tokens.set(who.tpp, mine);
  const token = mine.get(scope) ?? (await env.ccToken(who.tpp, who.clientId, 'private_key_jwt', { scope }));
  mine.set(scope, token);
  return token;
}

/** A consent call through the gateway, as `who`. */
export async function consentCall(env: DcrEnvironment, who: ConsentTpp, api: ConsentApi, method: string, path: string, body?: unknown): Promise<Response> {
  const { context, scope } = CONSENT_APIS[api];
  return env.ts.fetch(`${context}${path}`, {
    method,
    cert: tlsOf(who.tpp.transport),
    headers: {
      authorization: `Bearer ${await ccTokenFor(env, who, scope)}`,
      'x-fapi-interaction-id': randomUUID(),
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'x-idempotency-key': randomUUID(), 'x-jws-signature': 'not-checked-unless-the-api-says-so' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Creates a consent at `resource` (`/account-access-consents`) of `api`; its ConsentId. */
export async function createConsent(env: DcrEnvironment, who: ConsentTpp, api: ConsentApi, resource: string, body: unknown): Promise<string> {
  const res = await consentCall(env, who, api, 'POST', resource, body);
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return String((JSON.parse(text) as { Data: { ConsentId: string } }).Data.ConsentId);
}

export interface AuthorizationOptions {
  /** Scope of the request (default: openid and the API's scope). */
  readonly scope?: string;
  readonly psu?: Psu;
  readonly choose?: AccountChoice;
  readonly onConsent?: (page: ConsentPage) => PageStep | Promise<PageStep>;
  /** The claims parameter, replacing the one naming the consent. */
  readonly claims?: Record<string, unknown> | null;
  /** Kept between runs: the PSU's session. */
  readonly jar?: Map<string, string>;
  /** Parameters added to the URL, beside the signed request object. */
  readonly query?: Record<string, string>;
}

/** What the TPP's callback received, and the exchange of its code when there was one. */
export interface AuthorizationOutcome {
  readonly callback: URL;
  /** The fragment's parameters (response_type code id_token). */
  readonly answer: URLSearchParams;
  exchange(): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>;
  readonly rp: oidc.Configuration;
}

/** A FAPI authorization request (JAR PS256, code id_token, PKCE S256) naming `consentId`, and the exchange of its callback. */
export interface ConsentAuthorization {
  readonly url: URL;
  readonly rp: oidc.Configuration;
  exchange(callback: URL): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>;
}

export async function consentAuthorization(
  env: DcrEnvironment,
  who: ConsentTpp,
  consentId: string,
  api: ConsentApi,
  opts: Pick<AuthorizationOptions, 'scope' | 'claims' | 'query'> = {},
): Promise<ConsentAuthorization> {
  const key = await importPKCS8(who.tpp.signingKey.key.export({ type: 'pkcs8', format: 'pem' }).toString(), 'PS256');
  const signingKey = { key, kid: who.tpp.signingKey.kid };
  const rp = await oidc.discovery(new URL(env.url), who.clientId, { id_token_signed_response_alg: 'PS256' }, oidc.PrivateKeyJwt(signingKey), {
    [oidc.customFetch]: fetchVia(env.ts.mtlsAgent(tlsOf(who.tpp.transport))),
  });
  oidc.useCodeIdTokenResponseType(rp);
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const claims = opts.claims === undefined ? intentClaims(consentId) : opts.claims;
  const url = await oidc.buildAuthorizationUrlWithJAR(
    rp,
    {
      redirect_uri: who.tpp.redirectUris[0]!,
      scope: opts.scope ?? `openid ${CONSENT_APIS[api].scope}`,
      nonce,
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...(claims === null ? {} : { claims: JSON.stringify(claims) }),
    },
    signingKey,
  );
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  return {
    url,
    rp,
    exchange: (callback) => oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state }),
  };
}

/** A FAPI authorization (JAR PS256, code id_token, PKCE S256) naming `consentId`, walked by the PSU's scripted browser. */
export async function authorizeConsent(
  env: DcrEnvironment,
  who: ConsentTpp,
  consentId: string,
  api: ConsentApi,
  opts: AuthorizationOptions = {},
): Promise<AuthorizationOutcome> {
  const request = await consentAuthorization(env, who, consentId, api, opts);
  const callback = await walkConsentPages(
    (u, init) => env.ts.fetch(u.pathname + u.search, init),
    request.url,
    new URL(env.url).origin,
    opts.psu ?? { username: 'psu', password: 'psu' },
    opts.jar ?? new Map(),
    opts.choose,
    opts.onConsent,
  );
  const answer = new URLSearchParams(callback.hash.slice(1));
  return { callback, answer, rp: request.rp, exchange: () => request.exchange(callback) };
}

const SEED_DATA: Partial<Record<ConsentKind, () => Record<string, unknown>>> = {
  'account-access': () => accountAccessBody().Data,
  'domestic-payment': () => domesticPaymentBody().Data,
};

/**
 * A consent awaiting authorisation, written straight to the store: for tests about something else
 * that need a PSU token (the consent resources themselves are created through the gateway in
 * test/consent). `data` is the consent's Data (needed for the kinds without a default).
 */
export async function seedConsent(storage: Storage, clientId: string, kind: ConsentKind = 'account-access', given?: Record<string, unknown>): Promise<string> {
  const now = Date.now();
  const data = given ?? SEED_DATA[kind]!();
  const record: ConsentRecord = {
    id: randomUUID(),
    kind,
    apiVersion: 'v3.1',
    keyManager: RESIDENT_KEY_MANAGER,
    clientId,
    status: 'AWAU',
    data,
    risk: kind === 'funds-confirmation' ? null : kind === 'account-access' ? {} : { PaymentContextCode: 'EcommerceGoods' },
    psu: null,
    accounts: [],
    grantId: null,
    createdAt: now,
    statusUpdatedAt: now,
    expiresAt: typeof data['ExpirationDateTime'] === 'string' ? Date.parse(data['ExpirationDateTime']) : null,
    deletedAt: null,
    version: 1,
    apiContext: '/open-banking/v3.1/aisp',
  };
  await storage.consents.create(record, { consentId: record.id, at: now, from: null, to: 'AWAU', actor: 'tpp', actorId: clientId, reason: null });
  return record.id;
}
