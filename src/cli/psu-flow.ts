/**
 * A PSU's consent, as a TPP's app drives it (FAPI 1.0 Advanced, OB): a request object signed by
 * the TPP (PS256; response_type "code id_token", nonce, state, PKCE), the server's login and
 * consent pages walked like a browser (cookies kept, redirects followed by hand, forms submitted),
 * then the code exchanged at the token endpoint over mutual TLS with a private_key_jwt assertion.
 * The demo's gateway part uses it; so do the tests, through the page walker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fetch as undiciFetch } from 'undici';
import { CliError } from './shared.ts';
import { expectStatus, send, tokenEndpoint, type Exchange, type TppSession } from './tpp-client.ts';

export interface Psu {
  username: string;
  password: string;
}

/** What a page walker asks of the network: a request to the server, without following redirects. */
export type PageFetch = (url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }) => Promise<Response>;

/** Applies Set-Cookie headers to the jar (an expired cookie is removed). Paths are ignored. */
function keepCookies(jar: Map<string, string>, res: Response): void {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const i = pair!.indexOf('=');
    const name = pair!.slice(0, i).trim();
    const expires = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('expires='));
    if (expires && Date.parse(expires.slice('expires='.length)) <= Date.now()) jar.delete(name);
    else jar.set(name, pair!.slice(i + 1).trim());
  }
}

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

/**
 * Walks the login and consent pages from `start`: signs `psu` in when the login page shows, does
 * on the consent page what `onConsent` says (default: allow with `choose`), and returns the first
 * URL outside `origin` (the TPP's callback). Throws on any unexpected page. `jar` may be shared
 * between runs to keep the PSU's session.
 */
export async function walkConsentPages(
  fetch: PageFetch,
  start: URL,
  origin: string,
  psu: Psu,
  jar = new Map<string, string>(),
  choose: AccountChoice = everyAccount,
  onConsent: (page: ConsentPage) => PageStep | Promise<PageStep> = (page) => allow(page, choose),
): Promise<URL> {
  let url = start;
  let form: URLSearchParams | undefined;
  // Bounded: login and consent are at most a dozen hops.
  for (let hop = 0; hop < 20; hop++) {
    if (url.origin !== origin) return url;
    const headers: Record<string, string> = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: form ? 'POST' : 'GET', headers, ...(form ? { body: form.toString() } : {}) });
    keepCookies(jar, res);
    form = undefined;
    if (res.status === 302 || res.status === 303) {
      url = new URL(res.headers.get('location')!, url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${url.pathname}: ${html.slice(0, 500)}`);
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
      throw new Error(`unexpected page at ${url.pathname}: ${html.slice(0, 500)}`);
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
}

/** The OB claims parameter naming the consent an authorization request is for (the id_token and userinfo members). */
export function intentClaims(consentId: string): Record<string, unknown> {
  const intent = { openbanking_intent_id: { value: consentId, essential: true } };
  return { id_token: { ...intent, acr: { essential: true, values: ['urn:openbanking:psd2:sca', 'urn:openbanking:psd2:ca'] } }, userinfo: intent };
}

/**
 * The authorization code flow for `scope` (openid plus the consent's API scope) and the consent
 * `consentId`, as the sandbox PSU choosing accounts with `choose`; the PSU-authorised tokens.
 */
export async function authorizeAsPsu(
  session: TppSession,
  clientId: string,
  psu: Psu,
  scope: string,
  consentId: string,
  choose?: AccountChoice,
): Promise<PsuToken> {
  const discovery = await send(session, 'GET', `${session.server}/.well-known/openid-configuration`);
  expectStatus(discovery, 200, 'the discovery request');
  const { issuer, authorization_endpoint: authorize } = discovery.body as { issuer: string; authorization_endpoint: string };
  const redirectUri = session.tpp.redirectUris[0]!;
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const request = await session.tpp.signRequest({
    iss: clientId,
    aud: issuer,
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
  const authorizationUrl = new URL(authorize);
  authorizationUrl.search = new URLSearchParams({ client_id: clientId, response_type: 'code id_token', scope, request }).toString();
  const origin = new URL(session.server).origin;
  const callback = await walkConsentPages(
    (url, init) => undiciFetch(url, { ...init, redirect: 'manual', dispatcher: session.agent }) as unknown as Promise<Response>,
    authorizationUrl,
    origin,
    psu,
    new Map(),
    choose,
  );
  // code id_token answers in the fragment (OIDC Core §3.3.2.5).
  const answer = new URLSearchParams(callback.hash.slice(1));
  if (answer.get('error')) throw new CliError(`the authorization was refused: ${answer.get('error')}: ${answer.get('error_description') ?? ''}`);
  if (answer.get('state') !== state || !answer.get('code')) throw new CliError('the authorization answer has no code, or another state');
  const endpoint = await tokenEndpoint(session);
  const assertion = await session.tpp.signRequest({ iss: clientId, sub: clientId, aud: endpoint });
  const exchange = await send(session, 'POST', endpoint, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: answer.get('code')!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString(),
  });
  expectStatus(exchange, 200, 'the code exchange');
  const token = (exchange.body as { access_token?: unknown }).access_token;
  if (typeof token !== 'string') throw new CliError('the code exchange answered without an access_token');
  return { authorizationUrl, exchange, accessToken: token };
}
