/**
 * The bank's own sign-in for its customers (`[psu] identity_provider`, docs/consents.md#the-banks-sign-in):
 * OpenDCR is a confidential OpenID Connect client of the bank's provider. `begin` sends the
 * customer there (authorization code with PKCE S256, a state and a nonce kept in a signed,
 * short-lived cookie of the browser that started); `finish` takes the provider's answer at
 * `/psu/sign-in/callback`, checks the state against that cookie, exchanges the code over the
 * outbound allow-list and has openid-client verify the ID token (signature by the provider's key
 * set, issuer, audience, expiry, nonce), then requires `acr` to be one the bank asked for and
 * takes the customer's identifier from the configured claim. Discovery is read on first use and
 * kept; a provider that cannot be reached makes a sign-in fail cleanly, and is read again later.
 */
import { readFileSync } from 'node:fs';
import { importPKCS8 } from 'jose';
import * as client from 'openid-client';
import type { Config } from '../config/schema.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import { safeEqual } from '../crypto/compare.ts';

/** What a sign-in is for: an authorization request's login (its interaction), or the access dashboard. */
export type SignInPurpose = { readonly kind: 'interaction'; readonly uid: string } | { readonly kind: 'access' };

export type SignInResult =
  | { readonly ok: true; readonly purpose: SignInPurpose; readonly psu: string; readonly acr: string | undefined; readonly amr: readonly string[] }
  /** refused: the customer cancelled or the provider refused; invalid: the answer failed a check; unavailable: the provider could not be used. */
  | { readonly ok: false; readonly purpose: SignInPurpose | undefined; readonly failure: 'refused' | 'invalid' | 'unavailable'; readonly reason: string };

export interface BankSignIn {
  /** The provider's authorization URL for a new sign-in, and the value of the state cookie to set. */
  begin(purpose: SignInPurpose): Promise<{ url: URL; cookie: string }>;
  /** The provider's answer (the callback's full URL), with the state cookie the browser sent back. */
  finish(callback: URL, cookie: string | undefined): Promise<SignInResult>;
  /**
   * The outcome of an interaction's sign-in, sealed for the interaction's own path (oidc-provider's
   * interaction cookie is sent only there): a cookie value that lives a minute.
   */
  handOver(uid: string, outcome: HandedOver): string;
  /** The sealed outcome of interaction `uid`, when its cookie is this server's, for this interaction and in time. */
  takeOver(uid: string, cookie: string | undefined): HandedOver | undefined;
}

/** What the callback hands the interaction: who signed in, or that the customer refused. */
export type HandedOver = { readonly psu: string; readonly acr: string | undefined; readonly amr: readonly string[] } | { readonly refused: true };

export const SIGN_IN_PATH = '/psu/sign-in';
export const CALLBACK_PATH = `${SIGN_IN_PATH}/callback`;
export const SIGN_IN_COOKIE = 'opendcr_psu_signin';
/** How long a sign-in may take at the provider (seconds). */
export const SIGN_IN_LIFETIME = 600;
export const RESULT_COOKIE = 'opendcr_psu_result';
const RESULT_LIFETIME = 60;

interface Pending {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly purpose: SignInPurpose;
  /** Epoch seconds. */
  readonly exp: number;
}

/** Subject values a customer identifier may take here: printable, bounded. */
const SUBJECT = /^[\x21-\x7e]{1,255}$/;

export function createBankSignIn(deps: {
  readonly config: Config;
  readonly fetch: OutboundFetch;
  /** An HMAC under a key of this server's (the PSU sessions' key), for the state cookie. */
  readonly mac: (data: string) => string;
  /** Epoch seconds. */
  readonly now: () => number;
}): BankSignIn {
  const idp = deps.config.psu.identity_provider;
  if (!idp) throw new Error('no [psu] identity_provider is configured');
  const redirectUri = `${deps.config.derived.baseUrl}${CALLBACK_PATH}`;

  async function clientAuth(): Promise<client.ClientAuth> {
    if (idp!.private_key_file) return client.PrivateKeyJwt(await importPKCS8(readFileSync(idp!.private_key_file, 'utf8'), idp!.private_key_alg));
    const secret = idp!.client_secret_env ? process.env[idp!.client_secret_env] : readFileSync(idp!.client_secret_file!, 'utf8').trim();
    if (!secret) throw new Error(`the client secret of [psu] identity_provider is empty (${idp!.client_secret_env ?? idp!.client_secret_file})`);
    return client.ClientSecretBasic(secret);
  }

  // openid-client calls fetch with a Headers object and a URLSearchParams body; the allow-listed fetch takes plain ones.
  const outbound: client.CustomFetch = async (url, options) => {
    const headers: Record<string, string> = {};
    new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
      headers[k] = v;
    });
    return deps.fetch(url, {
      method: options.method,
      headers,
      ...(options.body === undefined || options.body === null ? {} : { body: String(options.body) }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  };

  let configuration: Promise<client.Configuration> | undefined;
  function provider(): Promise<client.Configuration> {
    configuration ??= clientAuth()
      .then((auth) =>
        client.discovery(new URL(idp!.issuer), idp!.client_id, { id_token_signed_response_alg: idp!.id_token_signed_response_alg }, auth, {
          [client.customFetch]: outbound,
          timeout: 10,
        }),
      )
      .then((c) => {
        c[client.customFetch] = outbound;
        return c;
      });
    // A failed discovery is tried again by the next sign-in.
    configuration.catch(() => {
      configuration = undefined;
    });
    return configuration;
  }

  /** A value with an expiry, sealed under `use` (a sealed value of one use never opens as another). */
  const seal = <T extends { readonly exp: number }>(use: string, value: T) => {
    const body = Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${body}.${deps.mac(`${use}:${body}`)}`;
  };
  function unseal<T extends { exp: number }>(use: string, cookie: string | undefined): T | undefined {
    if (!cookie || cookie.length > 4096) return undefined;
    const [body, tag, extra] = cookie.split('.');
    if (!body || !tag || extra !== undefined || !safeEqual(tag, deps.mac(`${use}:${body}`))) return undefined;
    try {
      const p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as T;
      return Number.isSafeInteger(p.exp) && p.exp > deps.now() ? p : undefined;
    } catch {
      return undefined;
    }
  }
  const encode = (p: Pending) => seal('psu-sign-in', p);
  const decode = (cookie: string | undefined) => unseal<Pending>('psu-sign-in', cookie);

  return {
    async begin(purpose) {
      const config = await provider();
      const pending: Pending = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        verifier: client.randomPKCECodeVerifier(),
        purpose,
        exp: deps.now() + SIGN_IN_LIFETIME,
      };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: idp.scope,
        response_type: 'code',
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: await client.calculatePKCECodeChallenge(pending.verifier),
        code_challenge_method: 'S256',
        ...(idp.acr_values.length ? { acr_values: idp.acr_values.join(' ') } : {}),
      });
      return { url, cookie: encode(pending) };
    },

    async finish(callback, cookie) {
      const pending = decode(cookie);
      if (!pending) return { ok: false, purpose: undefined, failure: 'invalid', reason: 'the sign-in expired or was started in another browser' };
      const { purpose } = pending;
      const state = callback.searchParams.get('state') ?? '';
      if (!safeEqual(state, pending.state)) return { ok: false, purpose, failure: 'invalid', reason: 'the state does not match this sign-in' };
      const error = callback.searchParams.get('error');
      if (error !== null) {
        return {
          ok: false,
          purpose,
          failure: error === 'access_denied' || error === 'login_required' ? 'refused' : 'invalid',
          reason: `the provider answered ${error.slice(0, 40)}`,
        };
      }
      let config: client.Configuration;
      try {
        config = await provider();
      } catch (err) {
        return { ok: false, purpose, failure: 'unavailable', reason: err instanceof Error ? err.message : 'the provider could not be read' };
      }
      let claims: Record<string, unknown> | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: pending.verifier,
          expectedNonce: pending.nonce,
          expectedState: pending.state,
          idTokenExpected: true,
        });
        claims = tokens.claims() as Record<string, unknown> | undefined;
      } catch (err) {
        // A response the checks refused (issuer, audience, nonce, signature, expiry), or a provider that did not answer.
        const unreachable =
          err instanceof Error && /fetch|ECONN|timeout|not allowed|could not/i.test(`${err.message} ${String((err as { cause?: unknown }).cause ?? '')}`);
        return {
          ok: false,
          purpose,
          failure: unreachable ? 'unavailable' : 'invalid',
          reason: err instanceof Error ? err.message.slice(0, 200) : 'the code exchange failed',
        };
      }
      const acr = typeof claims?.['acr'] === 'string' ? claims['acr'] : undefined;
      if (idp.acr_values.length > 0 && (acr === undefined || !idp.acr_values.includes(acr))) {
        return { ok: false, purpose, failure: 'invalid', reason: 'the sign-in did not meet the strong customer authentication the bank asks for' };
      }
      const psu = claims?.[idp.subject_claim];
      if (typeof psu !== 'string' || !SUBJECT.test(psu)) {
        return { ok: false, purpose, failure: 'invalid', reason: `the ID token has no usable ${idp.subject_claim} claim` };
      }
      const amr = Array.isArray(claims?.['amr']) ? (claims['amr'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
      return { ok: true, purpose, psu, acr, amr };
    },

    handOver: (uid, outcome) => seal('psu-sign-in-result', { uid, outcome, exp: deps.now() + RESULT_LIFETIME }),
    takeOver(uid, cookie) {
      const sealed = unseal<{ uid: string; outcome: HandedOver; exp: number }>('psu-sign-in-result', cookie);
      return sealed && sealed.uid === uid ? sealed.outcome : undefined;
    },
  };
}

/** `Set-Cookie` of an interaction's sealed outcome (empty clears it), for that interaction's path only. */
export const resultCookie = (uid: string, value: string) =>
  `${RESULT_COOKIE}=${value}; Path=/oauth2/interaction/${encodeURIComponent(uid)}; Secure; HttpOnly; SameSite=Lax; Max-Age=${value ? RESULT_LIFETIME : 0}`;

/** `Set-Cookie` of the state cookie (empty clears it): sent back only to the callback, also after the provider's cross-site redirect (Lax). */
export const signInCookie = (value: string) =>
  `${SIGN_IN_COOKIE}=${value}; Path=${SIGN_IN_PATH}; Secure; HttpOnly; SameSite=Lax; Max-Age=${value ? SIGN_IN_LIFETIME : 0}`;
