/**
 * A PSU's consent, as a TPP's app drives it (FAPI 1.0 Advanced, OB): a request object signed by
 * the TPP (PS256; response_type "code id_token", nonce, state, PKCE), the server's login and
 * consent pages walked like a browser (cookies kept, redirects followed by hand, forms submitted),
 * then the code exchanged at the token endpoint over mutual TLS. Each step stands alone, so a
 * request can be built and its code exchanged later (`opendcr tpp authorize --print-url`, then
 * `opendcr tpp token --code`). The demo's gateway part and `opendcr tpp authorize` use it; so do
 * the tests, through the page walker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fetch as undiciFetch } from 'undici';
import { CliError } from './shared.ts';
import { clientAuthForm, expectStatus, send, tokenEndpoint, type AuthMethod, type Exchange, type TppSession } from './tpp-client.ts';

export interface Psu {
  username: string;
  password: string;
}

/** What a page walker asks of the network: a request to the server, without following redirects. */
export type PageFetch = (url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }) => Promise<Response>;

/** A cookie's key in the jar: its origin and name (the server and the bank's provider may both set `_session`). */
const jarKey = (origin: string, name: string) => `${origin} ${name}`;

/** Applies Set-Cookie headers of an answer from `origin` to the jar (an expired cookie is removed). Paths are ignored. */
function keepCookies(jar: Map<string, string>, origin: string, res: Response): void {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const i = pair!.indexOf('=');
    const name = pair!.slice(0, i).trim();
    const gone = attrs
      .map((a) => a.trim().toLowerCase())
      .some((a) => (a.startsWith('expires=') && Date.parse(a.slice('expires='.length)) <= Date.now()) || a === 'max-age=0');
    if (gone) jar.delete(jarKey(origin, name));
    else jar.set(jarKey(origin, name), pair!.slice(i + 1).trim());
  }
}

/** The Cookie header of a walker's jar for a request to `origin`. */
export const cookiesFor = (jar: Map<string, string>, origin: string) =>
  [...jar]
    .filter(([k]) => k.startsWith(`${origin} `))
    .map(([k, v]) => `${k.slice(origin.length + 1)}=${v}`)
    .join('; ');

/** An account the consent page offers: the form field, the AccountId, and how the page names it. */
export interface OfferedAccount {
  readonly field: string;
  readonly accountId: string;
  readonly label: string;
  readonly kind: 'checkbox' | 'radio' | 'hidden';
}

/** Which of the offered accounts the PSU chooses; by default every checkbox, else the first radio. */
export type AccountChoice = (offered: readonly OfferedAccount[]) => readonly OfferedAccount[];

const everyAccount: AccountChoice = (offered) => {
  const boxes = offered.filter((o) => o.kind === 'checkbox');
  return boxes.length > 0 ? boxes : offered.slice(0, 1);
};

const unescapeHtml = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));

/** The accounts in the consent form of `html` (the inputs named account… and their labels). */
export function offeredAccounts(html: string): OfferedAccount[] {
  const form = /<form method="post" action="[^"]+\/confirm">([\s\S]*?)<\/form>/.exec(html)?.[1] ?? '';
  const out: OfferedAccount[] = [];
  for (const m of form.matchAll(/<input type="(checkbox|radio|hidden)"(?: id="([^"]+)")? name="([^"]+)" value="([^"]*)"[^>]*>/g)) {
    const id = m[2];
    const label = id ? (new RegExp(`<label for="${id}">([^<]*)</label>`).exec(form)?.[1] ?? '') : '';
    out.push({ kind: m[1] as OfferedAccount['kind'], field: unescapeHtml(m[3]!), accountId: unescapeHtml(m[4]!), label: unescapeHtml(label) });
  }
  return out;
}

/** The consent page as the walker found it. */
export interface ConsentPage {
  readonly url: URL;
  readonly html: string;
  /** Where its Allow and Deny forms post. */
  readonly confirm: URL;
  readonly deny: URL | undefined;
  readonly offered: readonly OfferedAccount[];
}

/** What the PSU does on the consent page: the form to post, and where. */
export interface PageStep {
  readonly post: URL;
  readonly form: URLSearchParams;
}

/** Allow, with the accounts `choose` picks (and any the page fixes). */
export function allow(page: ConsentPage, choose: AccountChoice = everyAccount): PageStep {
  const form = new URLSearchParams();
  for (const o of page.offered.filter((a) => a.kind === 'hidden')) form.set(o.field, o.accountId);
  for (const o of choose(page.offered.filter((a) => a.kind !== 'hidden'))) form.set(o.field, o.accountId);
  return { post: page.confirm, form };
}

/** The text of a page's error paragraph (the login and consent pages' alert, the error page's message), unescaped. */
function pageProblem(html: string): string | undefined {
  const p = /<p class="error"[^>]*>([^<]*)<\/p>/.exec(html) ?? /<main><h1>[^<]*<\/h1><p>([^<]*)<\/p>/.exec(html);
  return p ? unescapeHtml(p[1]!).trim() : undefined;
}

/** A page the walker did not expect: its status, where, and what it said (`problem`) when it says it plainly. */
export class ConsentPageError extends Error {
  override readonly name = 'ConsentPageError';
  readonly status: number;
  readonly url: URL;
  readonly problem: string | undefined;
  /** The sign-in page, shown again (a wrong user name or password). */
  readonly atLogin: boolean;
  constructor(status: number, url: URL, html: string) {
    super(`unexpected ${status === 200 ? 'page' : status} at ${url.pathname}: ${html.slice(0, 500)}`);
    this.status = status;
    this.url = url;
    this.problem = pageProblem(html);
    this.atLogin = /action="[^"]+\/login"/.test(html);
  }
}

/**
 * Walks the login and consent pages from `start`: signs `psu` in when a login page shows (the
 * sandbox's, or the bank's provider's: a form posting to …/login with username and password),
 * does on the consent page what `onConsent` says (default: allow with `choose`), and returns the
 * first URL outside `origin` (the server's origin, and the bank provider's when there is one: the
 * TPP's callback). Throws on any unexpected page. `jar` may be shared between runs to keep the
 * PSU's session.
 */
export async function walkConsentPages(
  fetch: PageFetch,
  start: URL,
  origin: string | readonly string[],
  psu: Psu,
  jar = new Map<string, string>(),
  choose: AccountChoice = everyAccount,
  onConsent: (page: ConsentPage) => PageStep | Promise<PageStep> = (page) => allow(page, choose),
): Promise<URL> {
  let url = start;
  let form: URLSearchParams | undefined;
  const walked = typeof origin === 'string' ? [origin] : origin;
  // Bounded: login (at the bank's provider too) and consent are at most two dozen hops.
  for (let hop = 0; hop < 30; hop++) {
    if (!walked.includes(url.origin)) return url;
    const headers: Record<string, string> = { cookie: cookiesFor(jar, url.origin) };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: form ? 'POST' : 'GET', headers, ...(form ? { body: form.toString() } : {}) });
    keepCookies(jar, url.origin, res);
    form = undefined;
    if (res.status === 302 || res.status === 303) {
      url = new URL(res.headers.get('location')!, url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new ConsentPageError(res.status, url, html);
    const login = /action="([^"]+\/login)"/.exec(html);
    const confirm = /action="([^"]+\/confirm)"/.exec(html);
    if (login) {
      url = new URL(login[1]!, url);
      form = new URLSearchParams({ username: psu.username, password: psu.password });
    } else if (confirm) {
      const deny = /action="([^"]+\/deny)"/.exec(html);
      const step = await onConsent({
        url,
        html,
        confirm: new URL(confirm[1]!, url),
        deny: deny ? new URL(deny[1]!, url) : undefined,
        offered: offeredAccounts(html),
      });
      url = step.post;
      form = step.form;
    } else {
      throw new ConsentPageError(res.status, url, html);
    }
  }
  throw new Error('too many redirects');
}

export interface PsuToken {
  /** The authorization request (its URL: client_id and the signed request object). */
  readonly authorizationUrl: URL;
  /** The code exchange. */
  readonly exchange: Exchange;
  readonly accessToken: string;
  /** The AccountIds the PSU allowed with (those chosen and any the page fixed). */
  readonly accounts: readonly string[];
}

/** The OB claims parameter naming the consent an authorization request is for (the id_token and userinfo members). */
export function intentClaims(consentId: string): Record<string, unknown> {
  const intent = { openbanking_intent_id: { value: consentId, essential: true } };
  return { id_token: { ...intent, acr: { essential: true, values: ['urn:openbanking:psd2:sca', 'urn:openbanking:psd2:ca'] } }, userinfo: intent };
}

/** An authorization request naming a consent, and what the TPP keeps to finish it: state, nonce, the PKCE verifier. */
export interface AuthorizationRequest {
  /** The authorization endpoint with client_id, response_type, scope and the signed request object. */
  readonly url: URL;
  readonly clientId: string;
  readonly consentId: string;
  readonly scope: string;
  readonly redirectUri: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** When the signed request object stops being accepted (its exp, epoch seconds). */
  readonly expiresAt: number;
}

/**
 * Builds the FAPI authorization request for `scope` (openid plus the consent's API scope) and the
 * consent `consentId`: a request object signed PS256 by the TPP, valid five minutes, for the
 * TPP's first redirect URI, with a fresh state, nonce and PKCE (S256) verifier.
 */
export async function buildAuthorizationRequest(session: TppSession, clientId: string, scope: string, consentId: string): Promise<AuthorizationRequest> {
  const discovery = await send(session, 'GET', `${session.server}/.well-known/openid-configuration`);
  expectStatus(discovery, 200, 'the discovery request');
  const { issuer, authorization_endpoint: authorize } = discovery.body as { issuer: string; authorization_endpoint: string };
  const redirectUri = session.tpp.redirectUris[0]!;
  const codeVerifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const request = await session.tpp.signRequest({
    iss: clientId,
    aud: issuer,
    client_id: clientId,
    response_type: 'code id_token',
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    nbf: now,
    exp: now + 300,
    code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    code_challenge_method: 'S256',
    claims: intentClaims(consentId),
  });
  const url = new URL(authorize);
  url.search = new URLSearchParams({ client_id: clientId, response_type: 'code id_token', scope, request }).toString();
  return { url, clientId, consentId, scope, redirectUri, state, nonce, codeVerifier, expiresAt: now + 300 };
}

/**
 * The code of the authorization answer at the TPP's callback (`code id_token` answers in the
 * fragment, OIDC Core §3.3.2.5; an error may come in the query); CliError for a refusal, a missing
 * code or another state.
 */
export function codeOfCallback(callback: URL, state: string): string {
  const answer = new URLSearchParams(callback.hash.slice(1));
  if (!answer.has('code') && !answer.has('error')) for (const [k, v] of callback.searchParams) answer.set(k, v);
  if (answer.get('error')) throw new CliError(`the authorization was refused: ${answer.get('error')}: ${answer.get('error_description') ?? ''}`);
  if (answer.get('state') !== state || !answer.get('code')) throw new CliError('the authorization answer has no code, or another state');
  return answer.get('code')!;
}

/** The code exchange (authorization_code with the PKCE verifier) over mutual TLS; CliError unless 200 with an access token. */
export async function exchangeCode(
  session: TppSession,
  request: Pick<AuthorizationRequest, 'clientId' | 'redirectUri' | 'codeVerifier'>,
  code: string,
  auth: AuthMethod = 'private_key_jwt',
): Promise<{ exchange: Exchange; accessToken: string }> {
  const endpoint = await tokenEndpoint(session);
  const form = {
    grant_type: 'authorization_code',
    code,
    redirect_uri: request.redirectUri,
    code_verifier: request.codeVerifier,
    ...(await clientAuthForm(session, request.clientId, auth, endpoint)),
  };
  const exchange = await send(session, 'POST', endpoint, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  expectStatus(exchange, 200, 'the code exchange');
  const token = (exchange.body as { access_token?: unknown }).access_token;
  if (typeof token !== 'string') throw new CliError('the code exchange answered without an access_token');
  return { exchange, accessToken: token };
}

/**
 * The authorization code flow for `scope` (openid plus the consent's API scope) and the consent
 * `consentId`, as the sandbox PSU choosing accounts with `choose`; the PSU-authorised tokens. The
 * code is exchanged with `auth` (default private_key_jwt).
 */
export async function authorizeAsPsu(
  session: TppSession,
  clientId: string,
  psu: Psu,
  scope: string,
  consentId: string,
  choose?: AccountChoice,
  auth: AuthMethod = 'private_key_jwt',
  /** Origins the sign-in also goes through (the bank's identity provider). */
  signInOrigins: readonly string[] = [],
): Promise<PsuToken> {
  const request = await buildAuthorizationRequest(session, clientId, scope, consentId);
  const origin = [new URL(session.server).origin, ...signInOrigins];
  let accounts: string[] = [];
  const callback = await walkConsentPages(
    (url, init) => undiciFetch(url, { ...init, redirect: 'manual', dispatcher: session.agent }) as unknown as Promise<Response>,
    request.url,
    origin,
    psu,
    new Map(),
    choose,
    (page) => {
      const step = allow(page, choose);
      accounts = [...step.form.values()];
      return step;
    },
  );
  const code = codeOfCallback(callback, request.state);
  const { exchange, accessToken } = await exchangeCode(session, request, code, auth);
  return { authorizationUrl: request.url, exchange, accessToken, accounts };
}
