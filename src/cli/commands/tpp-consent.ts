/**
 * `opendcr tpp consent create | get | delete` and `opendcr tpp authorize`: the Open Banking
 * consent journey of a sandbox TPP without a hand-written JWT. The consent calls go through the
 * gateway over the TPP's mTLS with a client_credentials token for the kind's scope (and, for
 * payments and VRP, an idempotency key and a detached JWS of the body); the authorization request
 * names the consent in a signed request object, and either its URL is printed (its state, nonce
 * and PKCE verifier kept in the TPP folder for `opendcr tpp token --code`) or the sandbox PSU
 * walks the login and consent pages here and the code is exchanged. `tpp.ts` registers these.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { Config } from '../../config/schema.ts';
import { CONSENT_KIND_DEFS, kindDef, type ConsentKindDef } from '../../consent/kinds.ts';
import type { ConsentKind } from '../../storage/consent-records.ts';
import { writeFileAtomic } from '../../sandbox/store.ts';
import {
  AUTH_METHODS,
  clientIdOf,
  detachedJws,
  expectStatus,
  requestToken,
  send,
  withSession,
  type AuthMethod,
  type Exchange,
  type TppSession,
} from '../tpp-client.ts';
import { authorizeAsPsu, buildAuthorizationRequest, codeOfCallback, ConsentPageError, exchangeCode, type AccountChoice, type Psu } from '../psu-flow.ts';
import { formatExchange, jwtClaims, pretty, section } from '../tpp-output.ts';
import { CliError, printJson } from '../shared.ts';
import { printable } from '../table.ts';

interface ConsentOptions {
  tpp: string;
  server?: string;
  ca?: string;
  auth?: AuthMethod;
  clientId?: string;
  json?: boolean;
  type: ConsentKind;
  context?: string;
}
interface CreateOptions extends ConsentOptions {
  permissions?: string;
  expires?: string;
  body?: string;
}
interface IdOptions extends ConsentOptions {
  consent: string;
}
interface AuthorizeOptions extends IdOptions {
  psu?: string;
  password?: string;
  accounts?: string;
  printUrl?: boolean;
}

/** What `tpp authorize --print-url` keeps in the TPP folder for `tpp token --code`. */
interface PendingAuthorization {
  server: string;
  client_id: string;
  consent_id: string;
  type: ConsentKind;
  scope: string;
  redirect_uri: string;
  state: string;
  nonce: string;
  code_verifier: string;
  expires_at: string;
  authorization_url: string;
}

const KINDS = CONSENT_KIND_DEFS.map((d) => d.kind);
const DELETABLE = CONSENT_KIND_DEFS.filter((d) => d.deletable).map((d) => d.kind);
const DEFAULT_PERMISSIONS = ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits'];
const DAY = 86_400_000;
export const AUTHORIZATION_FILE = 'authorization.json';
export const PSU_TOKEN_FILE = 'psu-access-token.txt';

const out = (text: string): void => {
  process.stdout.write(text);
};

/** Where each kind's API is published by default: the contexts of the official v3.1 files (VRP beside the payments). */
function defaultContext(def: ConsentKindDef): string {
  if (def.kind === 'domestic-vrp') return '/open-banking/v3.1/vrp';
  return { accounts: '/open-banking/v3.1/aisp', payments: '/open-banking/v3.1/pisp', fundsconfirmations: '/open-banking/v3.1/cbpii' }[def.scope];
}

/** The consent resource's URL: `{server}{context}{resource}[/{ConsentId}]`. */
function consentUrl(s: TppSession, opts: ConsentOptions, consentId?: string): string {
  const def = kindDef(opts.type);
  const context = (opts.context ?? defaultContext(def)).replace(/\/+$/, '');
  if (!/^\/[^?#\s]*$/.test(context)) throw new CliError(`--context must be a path starting with /, got "${opts.context}"`, 2);
  return `${s.server}${context}${def.resource}${consentId === undefined ? '' : `/${encodeURIComponent(consentId)}`}`;
}

/** `A,B` → ['A', 'B']; CliError (exit 2) when empty. */
function list(value: string, option: string): string[] {
  const items = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (items.length === 0) throw new CliError(`${option} needs a comma-separated list, got "${value}"`, 2);
  return items;
}

const consentIdOf = (value: string): string => {
  if (value.trim() === '') throw new CliError('--consent needs a ConsentId', 2);
  return value;
};

/** Options every consent subcommand takes (`types`: the kinds --type offers). */
function consentOptions(cmd: Command, types: readonly string[] = KINDS): Command {
  return cmd
    .requiredOption('--tpp <id-or-name>', 'software_id or name of the sandbox TPP')
    .addOption(new Option('--type <kind>', 'the consent kind').choices(types).makeOptionMandatory())
    .option('--context <path>', 'base path of the API serving the consent (default: the official v3.1 context of the kind, e.g. /open-banking/v3.1/aisp)')
    .option('--server <url>', "server base URL (default: the registration's server, else this configuration's base URL)")
    .option('--ca <file>', "CA certificate (PEM) for the server's TLS certificate (default: {data_dir}/pki/ca.pem when present)")
    .addOption(new Option('--auth <method>', "token endpoint authentication (default: the registration's, else private_key_jwt)").choices(AUTH_METHODS))
    .option('--client-id <id>', "client_id to act as (default: the one in the TPP's registration.json)")
    .option('--json', 'print only the JSON response');
}

export const authOf = (s: TppSession, opts: { auth?: AuthMethod }): AuthMethod => opts.auth ?? s.registration?.token_endpoint_auth_method ?? 'private_key_jwt';

/**
 * Throws the server's refusal unless the exchange has the expected status: an OBErrorResponse1
 * (Code and Message, then each entry's ErrorCode, Path and Message), else the OAuth error.
 */
function expectAnswer(ex: Exchange, expected: number, what: string): void {
  if (ex.status === expected) return;
  const b = ex.body as { Code?: unknown; Message?: unknown; Errors?: unknown } | undefined;
  if (typeof b !== 'object' || b === null || typeof b.Code !== 'string') {
    expectStatus(ex, expected, what);
    return;
  }
  const str = (v: unknown) => (typeof v === 'string' ? printable(v) : '');
  const entries = (Array.isArray(b.Errors) ? b.Errors : []) as Array<Record<string, unknown>>;
  const lines = entries.map((e) => `  ${str(e['ErrorCode'])}${typeof e['Path'] === 'string' ? ` at ${str(e['Path'])}` : ''}: ${str(e['Message'])}`);
  throw new CliError([`the server rejected ${what} (HTTP ${ex.status}): ${str(b.Code)}: ${str(b.Message)}`, ...lines].join('\n'));
}

/** Prints the answer (the body alone with --json) and throws the refusal unless it is `expected`. */
function finish(opts: { json?: boolean }, ex: Exchange, expected: number, what: string): void {
  if (opts.json) {
    if (ex.body !== undefined) printJson(ex.body);
  } else out(formatExchange(ex));
  expectAnswer(ex, expected, what);
}

/** A client_credentials token for the kind's scope. */
async function consentToken(s: TppSession, opts: ConsentOptions): Promise<string> {
  const scope = kindDef(opts.type).scope;
  const auth = authOf(s, opts);
  const t = await requestToken(s, { clientId: clientIdOf(s, opts.clientId), auth, scope });
  if (opts.json && t.exchange.status !== 200) printJson(t.exchange.body ?? null);
  expectStatus(t.exchange, 200, `the client_credentials token request (scope ${scope})`);
  if (!opts.json) out(`Obtained a client_credentials access token (${auth}, scope "${scope}")\n`);
  return t.accessToken!;
}

/**
 * The request body: the --body file as it is (the whole request, {Data, Risk}); else, for
 * account access, one built from --permissions and --expires. CliError (exit 2) otherwise.
 */
function requestBody(opts: CreateOptions): string {
  const built = opts.permissions !== undefined || opts.expires !== undefined;
  if (opts.body !== undefined) {
    if (built) throw new CliError('--permissions and --expires build an account access request; with --body the file is the whole request', 2);
    let text: string;
    try {
      text = readFileSync(opts.body, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --body ${opts.body}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CliError(`--body ${opts.body} is not JSON: ${(err as Error).message}`, 2);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new CliError(`--body ${opts.body} must hold a JSON object ({Data, Risk})`, 2);
    return JSON.stringify(parsed);
  }
  if (opts.type !== 'account-access') {
    if (built) throw new CliError('--permissions and --expires are for --type account-access; other kinds take --body', 2);
    throw new CliError(`--type ${opts.type} needs --body FILE: a JSON file with the whole request ({Data, Risk})`, 2);
  }
  const permissions = opts.permissions === undefined ? DEFAULT_PERMISSIONS : list(opts.permissions, '--permissions');
  if (opts.expires !== undefined && Number.isNaN(Date.parse(opts.expires)))
    throw new CliError(`--expires must be an ISO 8601 date-time with its zone (2030-01-31T00:00:00+00:00), got "${opts.expires}"`, 2);
  const expires = opts.expires ?? new Date(Date.now() + 90 * DAY).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  return JSON.stringify({ Data: { Permissions: permissions, ExpirationDateTime: expires }, Risk: {} });
}

/** The headers of a consent call; a body's call carries its type, and for payments and VRP an idempotency key and its detached JWS. */
async function consentHeaders(config: Config, s: TppSession, opts: ConsentOptions, token: string, body?: string): Promise<Record<string, string>> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': randomUUID() };
  if (body === undefined) return headers;
  headers['content-type'] = 'application/json';
  if (kindDef(opts.type).scope === 'payments') {
    headers['x-idempotency-key'] = randomUUID();
    headers['x-jws-signature'] = await detachedJws(s, body, config.gateway.jws_trust_anchor);
  }
  return headers;
}

const dataOf = (ex: Exchange): Record<string, unknown> => {
  const data = (ex.body as { Data?: unknown } | undefined)?.Data;
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
};

/** The sandbox PSU to sign in as: --psu (with --password, or the configured one's), else the first [[sandbox.users]] entry. */
function psuOf(config: Config, opts: AuthorizeOptions): Psu {
  const users = config.sandbox.users;
  const username = opts.psu ?? users[0]?.username;
  if (username === undefined) throw new CliError('this configuration has no [[sandbox.users]]: give --psu and --password', 2);
  const password = opts.password ?? users.find((u) => u.username === username)?.password;
  if (password === undefined) throw new CliError(`PSU "${username}" is not a [[sandbox.users]] entry of this configuration: give its --password`, 2);
  return { username, password };
}

/** --accounts as a choice among the offered accounts; CliError naming what the page offers when it offers another. */
function accountChoice(given: string | undefined): AccountChoice | undefined {
  if (given === undefined) return undefined;
  const wanted = [...new Set(list(given, '--accounts'))];
  return (offered) => {
    const shown = offered.map((o) => `${printable(o.accountId)} (${printable(o.label)})`).join(', ');
    if (offered.length === 0) throw new CliError('the consent names its account, so the consent page offers no choice: leave out --accounts');
    const unknown = wanted.filter((id) => !offered.some((o) => o.accountId === id));
    if (unknown.length > 0) throw new CliError(`the consent page does not offer ${unknown.join(', ')}; it offers ${shown}`);
    const picked = offered.filter((o) => wanted.includes(o.accountId));
    if (picked.length > 1 && picked.some((o) => o.kind === 'radio')) throw new CliError(`this consent is for one account: give one of ${shown}`);
    return picked;
  };
}

/** The PSU's tokens, shown: the token response, the access token's claims, the consent they name, the refresh token; the access token saved. */
function showPsuTokens(s: TppSession, ex: Exchange, accessToken: string, json: boolean | undefined): void {
  const file = join(s.folder, PSU_TOKEN_FILE);
  writeFileAtomic(file, `${accessToken}\n`, 0o600);
  if (json) {
    printJson(ex.body);
    return;
  }
  const body = (ex.body ?? {}) as Record<string, unknown>;
  const claims = jwtClaims(accessToken);
  out(formatExchange(ex));
  out(claims ? section('Access token claims:', pretty(claims)) : 'The access token is opaque (no claims to show).\n');
  const idClaims = typeof body['id_token'] === 'string' ? jwtClaims(body['id_token']) : undefined;
  const intent = claims?.['openbanking_intent_id'] ?? idClaims?.['openbanking_intent_id'];
  if (typeof intent === 'string') out(`The tokens name consent ${printable(intent)} (openbanking_intent_id).\n`);
  const refresh = body['refresh_token'];
  const until = body['http://openbanking.org.uk/refresh_token_expires_at'];
  if (typeof refresh === 'string') out(`Refresh token: ${refresh}${typeof until === 'number' ? ` (until ${new Date(until * 1000).toISOString()})` : ''}\n`);
  else out('No refresh token (a payment consent is used once, so its token is not refreshed).\n');
  out(`Saved the access token to ${file}\n`);
}

/** A walker's surprise as the CLI says it: the refused sign-in, or the page's own message. */
function pageFailure(err: unknown, psu: Psu): unknown {
  if (!(err instanceof ConsentPageError)) return err;
  if (err.atLogin && err.status === 401)
    return new CliError(`the bank refused the sign-in of PSU "${printable(psu.username)}": ${printable(err.problem ?? 'HTTP 401')}`);
  return new CliError(`the bank answered ${err.status} at ${err.url.pathname}${err.problem ? `: ${printable(err.problem)}` : ''}`);
}

/**
 * `tpp token --code`: exchanges the code of the authorization `tpp authorize --print-url` started
 * (`given` is the code, or the callback URL, whose state is then checked); removes
 * authorization.json once the code is used.
 */
export async function finishAuthorization(s: TppSession, given: string, auth: AuthMethod, json: boolean | undefined): Promise<void> {
  const file = join(s.folder, AUTHORIZATION_FILE);
  if (!existsSync(file))
    throw new CliError(`no authorization is waiting for a code (no ${file}): run \`opendcr tpp authorize --tpp ${s.tpp.softwareId} --print-url …\` first`);
  let pending: PendingAuthorization;
  try {
    pending = JSON.parse(readFileSync(file, 'utf8')) as PendingAuthorization;
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}); run \`opendcr tpp authorize --print-url\` again`);
  }
  if (pending.server !== s.server)
    throw new CliError(`the waiting authorization (${file}) is for ${pending.server}, not ${s.server}: give --server ${pending.server}`);
  const code = /^https?:\/\//.test(given) && URL.canParse(given) ? codeOfCallback(new URL(given), pending.state) : given.trim();
  if (code === '') throw new CliError('--code needs the code, or the callback URL the bank redirected to', 2);
  const { exchange, accessToken } = await exchangeCode(
    s,
    { clientId: pending.client_id, redirectUri: pending.redirect_uri, codeVerifier: pending.code_verifier },
    code,
    auth,
  );
  rmSync(file, { force: true });
  showPsuTokens(s, exchange, accessToken, json);
}

/** Adds `consent create | get | delete` and `authorize` to the `tpp` command. */
export function addConsentCommands(tpp: Command, getConfig: () => Config): void {
  const consent = tpp.command('consent').description('Create, read and delete Open Banking consents (intents) through the gateway, as the TPP');

  consentOptions(consent.command('create'))
    .description(
      'Create a consent (POST {context}/{kind}-consents) with a client_credentials token; payments and VRP carry x-idempotency-key and a signed x-jws-signature',
    )
    .option('--permissions <list>', `account access: the permissions, comma-separated (default: ${DEFAULT_PERMISSIONS.join(',')})`)
    .option('--expires <date-time>', 'account access: ExpirationDateTime, ISO 8601 with its zone (default: 90 days ahead)')
    .option('--body <file>', 'a JSON file with the whole request ({Data, Risk}); needed for every kind but account access')
    .action((opts: CreateOptions) => {
      const body = requestBody(opts);
      const config = getConfig();
      return withSession(config, opts, async (s) => {
        const url = consentUrl(s, opts);
        const token = await consentToken(s, opts);
        const ex = await send(s, 'POST', url, { headers: await consentHeaders(config, s, opts, token, body), body });
        finish(opts, ex, 201, 'the consent request');
        if (opts.json) return;
        const { ConsentId: id, Status: status } = dataOf(ex);
        out(`Consent ${printable(String(id))} is ${printable(String(status))}.\n`);
        out(`Authorise it with: opendcr tpp authorize --tpp ${s.tpp.softwareId} --type ${opts.type} --consent ${printable(String(id))}\n`);
      });
    });

  consentOptions(consent.command('get'))
    .description('Read a consent (GET {context}/{kind}-consents/{ConsentId}) with a client_credentials token')
    .requiredOption('--consent <ConsentId>', 'the consent to read')
    .action((opts: IdOptions) =>
      withSession(getConfig(), opts, async (s) => {
        const url = consentUrl(s, opts, consentIdOf(opts.consent));
        const token = await consentToken(s, opts);
        const ex = await send(s, 'GET', url, { headers: await consentHeaders(getConfig(), s, opts, token) });
        finish(opts, ex, 200, 'the consent read');
        if (!opts.json) out(`Consent ${printable(opts.consent)} is ${printable(String(dataOf(ex)['Status']))}.\n`);
      }),
    );

  consentOptions(consent.command('delete'), DELETABLE)
    .description(`Delete a consent (DELETE {context}/{kind}-consents/{ConsentId}); its tokens stop at once. Only ${DELETABLE.join(', ')}`)
    .requiredOption('--consent <ConsentId>', 'the consent to delete')
    .action((opts: IdOptions) =>
      withSession(getConfig(), opts, async (s) => {
        const url = consentUrl(s, opts, consentIdOf(opts.consent));
        const token = await consentToken(s, opts);
        const ex = await send(s, 'DELETE', url, { headers: await consentHeaders(getConfig(), s, opts, token) });
        if (opts.json && ex.status === 204) return printJson({ ConsentId: opts.consent, deleted: true });
        finish(opts, ex, 204, 'the consent deletion');
        out(`Deleted consent ${printable(opts.consent)}\n`);
        return undefined;
      }),
    );

  consentOptions(tpp.command('authorize'))
    .description(
      'Authorise a consent: a signed FAPI authorization request naming it, walked as the sandbox PSU (sign in, choose accounts, allow) and the code exchanged; or --print-url',
    )
    .requiredOption('--consent <ConsentId>', 'the consent to authorise')
    .option('--psu <user>', 'sandbox PSU to sign in as (default: the first [[sandbox.users]] entry)')
    .option('--password <password>', "the PSU's password (default: the configured one of --psu)")
    .option('--accounts <ids>', 'AccountIds to choose on the consent page, comma-separated (default: every one for account access, else the first)')
    .option('--print-url', 'only print the authorization URL (for a browser); keep its state, nonce and PKCE verifier for `tpp token --code`')
    .action((opts: AuthorizeOptions) => {
      const config = getConfig();
      const consentId = consentIdOf(opts.consent);
      const scope = `openid ${kindDef(opts.type).scope}`;
      if (opts.printUrl && (opts.psu !== undefined || opts.password !== undefined || opts.accounts !== undefined))
        throw new CliError('--print-url leaves the sign-in to a browser: --psu, --password and --accounts do not go with it', 2);
      const psu = opts.printUrl ? undefined : psuOf(config, opts);
      const choose = accountChoice(opts.accounts);
      return withSession(config, opts, async (s) => {
        const clientId = clientIdOf(s, opts.clientId);
        if (psu === undefined) {
          const req = await buildAuthorizationRequest(s, clientId, scope, consentId);
          const pending: PendingAuthorization = {
            server: s.server,
            client_id: clientId,
            consent_id: consentId,
            type: opts.type,
            scope,
            redirect_uri: req.redirectUri,
            state: req.state,
            nonce: req.nonce,
            code_verifier: req.codeVerifier,
            expires_at: new Date(req.expiresAt * 1000).toISOString(),
            authorization_url: req.url.href,
          };
          const file = join(s.folder, AUTHORIZATION_FILE);
          writeFileAtomic(file, `${JSON.stringify(pending, null, 2)}\n`, 0o600);
          if (opts.json)
            return printJson({ authorization_url: req.url.href, redirect_uri: req.redirectUri, state: req.state, expires_at: pending.expires_at, saved: file });
          return out(
            `Authorization URL for consent ${printable(consentId)} (open it in the PSU's browser before ${pending.expires_at}, when its signed request object expires):\n` +
              `${req.url.href}\n` +
              `The bank then redirects to ${req.redirectUri}#code=…&state=${req.state}\n` +
              `Saved the state, nonce and PKCE verifier to ${file}; finish with:\n` +
              `  opendcr tpp token --tpp ${s.tpp.softwareId} --code '<the callback URL, or its code>'\n`,
          );
        }
        const result = await authorizeAsPsu(s, clientId, psu, scope, consentId, choose, authOf(s, opts)).catch((err: unknown) => {
          throw pageFailure(err, psu);
        });
        if (!opts.json) {
          const u = result.authorizationUrl;
          out(`Authorization request: ${u.origin}${u.pathname}?client_id=${clientId}&request=<signed request object naming consent ${printable(consentId)}>\n`);
          out(`PSU "${psu.username}" signed in and allowed${result.accounts.length ? `, with account(s) ${result.accounts.map(printable).join(', ')}` : ''}\n`);
        }
        return showPsuTokens(s, result.exchange, result.accessToken, opts.json);
      });
    });
}
