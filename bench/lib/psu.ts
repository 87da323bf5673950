/**
 * A PSU's token for the bench TPP, the way a TPP gets one: an account access consent created with
 * its client-credentials token, a FAPI authorization request naming it (request object signed
 * PS256, PKCE), the sandbox PSU walked through the login and consent pages (src/cli/psu-flow.ts,
 * every account chosen), and the code exchanged over mutual TLS with private_key_jwt.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent, fetch } from 'undici';
import { intentClaims, walkConsentPages } from '../../src/cli/psu-flow.ts';
import type { OurSetup } from './setup.ts';

export interface PsuGrant {
  readonly consentId: string;
  readonly accessToken: string;
  /** The accounts the PSU chose. */
  readonly accounts: readonly string[];
}

/** A consent at `context` (an API serving its consents here) authorised by the sandbox PSU `psu`. */
export async function psuGrant(
  setup: OurSetup,
  ca: string,
  clientId: string,
  ccToken: string,
  context: string,
  psu = { username: 'psu', password: 'psu' },
): Promise<PsuGrant> {
  const agent = new Agent({ connect: { ca, cert: setup.tppTls.cert, key: setup.tppTls.key, servername: 'localhost' } });
  const base = setup.baseUrl.replace(/\/$/, '');
  try {
    const json = async (res: Awaited<ReturnType<typeof fetch>>, expect: number, what: string) => {
      const text = await res.text();
      if (res.status !== expect) throw new Error(`${what}: HTTP ${res.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const consent = await json(
      await fetch(`${base}${context}/account-access-consents`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${ccToken}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomBytes(8).toString('hex') },
        body: JSON.stringify({
          Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances'], ExpirationDateTime: new Date(Date.now() + 86_400_000).toISOString() },
          Risk: {},
        }),
      }),
      201,
      'the consent',
    );
    const consentId = String((consent['Data'] as Record<string, unknown>)['ConsentId']);
    const discovery = await json(await fetch(`${base}/.well-known/openid-configuration`, { dispatcher: agent }), 200, 'discovery');
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(16).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const redirectUri = setup.tpp.redirectUris[0]!;
    const scope = 'openid accounts';
    const request = await setup.tpp.signRequest({
      iss: clientId,
      aud: discovery['issuer'],
      client_id: clientId,
      response_type: 'code id_token',
      redirect_uri: redirectUri,
      scope,
      state,
      nonce: randomBytes(16).toString('base64url'),
      nbf: now,
      exp: now + 300,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      claims: intentClaims(consentId),
    });
    const start = new URL(String(discovery['authorization_endpoint']));
    start.search = new URLSearchParams({ client_id: clientId, response_type: 'code id_token', scope, request }).toString();
    let accounts: string[] = [];
    const callback = await walkConsentPages(
      (url, init) => fetch(url, { ...init, redirect: 'manual', dispatcher: agent }) as unknown as Promise<Response>,
      start,
      new URL(base).origin,
      psu,
      new Map(),
      (offered) => {
        accounts = offered.map((o) => o.accountId);
        return offered;
      },
    );
    const answer = new URLSearchParams(callback.hash.slice(1));
    const code = answer.get('code');
    if (!code || answer.get('state') !== state) throw new Error(`the authorization did not answer with a code: ${answer.toString()}`);
    const endpoint = String(discovery['token_endpoint']);
    const tokens = await json(
      await fetch(endpoint, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await setup.tpp.signRequest({ iss: clientId, sub: clientId, aud: endpoint }),
        }).toString(),
      }),
      200,
      'the code exchange',
    );
    return { consentId, accessToken: String(tokens['access_token']), accounts };
  } finally {
    await agent.close();
  }
}
