/**
 * The TPP side of the Open Banking DCR API, as `opendcr tpp …` and `npm run demo` use it: build
 * and sign the registration request, send it over mutual TLS with the TPP's transport
 * certificate, obtain client_credentials tokens, and read, update and delete the registration.
 * Every call returns the exchange (request and response) so callers can show it or replay it.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { decodeJwt, FlattenedSign } from 'jose';
import { Agent, request } from 'undici';
import type { Config } from '../config/schema.ts';
import { DCR_VERSIONS } from '../config/schema.ts';
import { certificateSubjectDn } from '../crypto/dn.ts';
import { writeFileAtomic } from '../sandbox/store.ts';
import type { SandboxTpp } from '../sandbox/tpp.ts';
import { SANDBOX_PREFIX } from '../sandbox/routes.ts';
import { openTpp, rebaseToRunningServer, tppFiles } from '../sandbox/service.ts';
import { cannotReach, localServer, networkFailure, readCaFile, sandboxBase } from './server-url.ts';
import { CliError } from './shared.ts';
import { ROLE_SCOPES } from '../ob/roles.ts';

export type DcrVersion = (typeof DCR_VERSIONS)[number];
export const AUTH_METHODS = ['private_key_jwt', 'tls_client_auth'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What `tpp register` leaves in the TPP folder (registration.json). */
export interface Registration {
  client_id: string;
  server: string;
  version: DcrVersion;
  token_endpoint_auth_method: AuthMethod;
  scope?: string;
  registration_client_uri?: string;
  registration_access_token?: string;
  registered_at: string;
  /**
   * True when `server` was this data folder's server (not a --server URL): later commands then
   * follow that server wherever it runs now, instead of the URL it had at registration.
   */
  local?: boolean;
}

/** One HTTP request and its answer; `body` is parsed JSON when the answer is JSON. */
export interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly requestHeaders: Readonly<Record<string, string>>;
  readonly requestBody?: string;
  readonly status: number;
  readonly body: unknown;
  /** Response headers. */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
}

export interface SessionOptions {
  /** software_id or name. */
  readonly tpp: string;
  /** Server base URL; default the registration's server, then `config.derived.baseUrl`. */
  readonly server?: string;
  /** CA file for the server's TLS certificate; default {data_dir}/pki/ca.pem when present. */
  readonly ca?: string;
  readonly version?: string;
}

/** A TPP talking to one server: its identity, its registration (if any), an mTLS agent. */
export interface TppSession {
  /** Replaced when its key set URLs are re-issued (the server moved). */
  tpp: SandboxTpp;
  readonly folder: string;
  readonly files: ReturnType<typeof tppFiles>;
  readonly server: string;
  /** Where `server` came from, for messages: `given with --server`, the running server, the configuration. */
  readonly serverFrom: string;
  /** True when `server` is this data folder's server (running or configured), not one given elsewhere. */
  readonly local: boolean;
  readonly version: DcrVersion;
  /** The CA file trusted for the server, when one is used. */
  readonly caFile: string | undefined;
  /** Presents the TPP's transport certificate on every connection. */
  readonly agent: Agent;
  registration: Registration | undefined;
  /** From discovery, once asked for. */
  tokenEndpoint?: string;
  close(): Promise<void>;
}

/** Runs `fn` with a session opened for `opts` (see {@link openSession}), closing it afterwards. */
export async function withSession<T>(config: Config, opts: SessionOptions, fn: (s: TppSession) => Promise<T>): Promise<T> {
  const session = openSession(config, opts);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** Opens a session for a sandbox TPP; CliError for an unknown TPP, a missing CA file or a bad option. */
export function openSession(config: Config, opts: SessionOptions): TppSession {
  const { tpp, folder } = openTpp(config, opts.tpp);
  const files = tppFiles(folder);
  const registration = readRegistration(files.registration);
  const target = resolveServer(config, opts.server, registration, files.registration);
  const server = target.url.replace(/\/+$/, '');
  if (!/^https:\/\/[^/]+/.test(server) || !URL.canParse(server)) throw new CliError(`--server must be an https URL, got "${server}"`, 2);
  const version = opts.version ?? registration?.version ?? config.open_banking.dcr.default_version;
  if (!(DCR_VERSIONS as readonly string[]).includes(version)) throw new CliError(`--version must be one of ${DCR_VERSIONS.join(', ')}, got "${version}"`, 2);
  const caFile = opts.ca ?? target.caFile;
  const ca = caFile === undefined ? undefined : readCaFile(caFile);
  // The chain, so a server that trusts only the directory's root CA can build the path.
  const agent = new Agent({ connect: { cert: tpp.transport.chainPem, key: tpp.transport.keyPem, ...(ca ? { ca } : {}) } });
  return {
    tpp,
    folder,
    files,
    server,
    serverFrom: target.from,
    local: target.local,
    version: version as DcrVersion,
    caFile,
    agent,
    registration,
    close: () => agent.close(),
  };
}

/**
 * The server a TPP talks to: --server; else the server of its registration when that was given
 * with --server; else this data folder's server (the running one, or the configured base URL).
 */
function resolveServer(
  config: Config,
  given: string | undefined,
  registration: Registration | undefined,
  registrationFile: string,
): { url: string; from: string; caFile: string | undefined; local: boolean } {
  const defaultCa = join(config.derived.dataDir, 'pki', 'ca.pem');
  const sandboxCa = existsSync(defaultCa) ? defaultCa : undefined;
  if (given !== undefined) return { url: given, from: 'given with --server', caFile: sandboxCa, local: false };
  const here = localServer(config);
  // Files written before `local` existed: local when they name this folder's configured or running server.
  const local = registration?.local ?? (registration === undefined || registration.server === config.derived.baseUrl || registration.server === here.url);
  if (registration && !local)
    return { url: registration.server, from: `the server of the registration in ${registrationFile}`, caFile: sandboxCa, local: false };
  return { url: here.url, from: here.from, caFile: here.caFile, local: true };
}

function readRegistration(file: string): Registration | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Registration;
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}); delete it or register again`);
  }
}

/** Sends one request over the session's mTLS agent; CliError "cannot reach …" when there is no answer. */
export async function send(
  session: TppSession,
  method: string,
  url: string,
  init: { headers?: Record<string, string>; body?: string } = {},
): Promise<Exchange> {
  const requestHeaders = { accept: 'application/json', ...init.headers };
  let status: number;
  let text: string;
  let headers: Record<string, string | string[] | undefined>;
  try {
    const res = await request(url, { method, headers: requestHeaders, body: init.body, dispatcher: session.agent });
    status = res.statusCode;
    headers = res.headers;
    text = await res.body.text();
  } catch (err) {
    throw cannotReach(url, session.serverFrom, session.caFile, err);
  }
  let body: unknown = text === '' ? undefined : text;
  try {
    if (text !== '') body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { method, url, requestHeaders, ...(init.body === undefined ? {} : { requestBody: init.body }), status, body, headers };
}

/**
 * Before a registration or update: when a server runs on this data folder on another port than
 * the TPP's key set URLs name, the TPP is re-issued for it (a note on stderr); then its software
 * key set must answer, since the server fetches it to check the request. CliError naming the URL
 * and the reason when it does not.
 */
export async function prepareKeySets(config: Config, session: TppSession, note: (text: string) => void): Promise<void> {
  const rebased = await rebaseToRunningServer(config, sandboxBase(config), session.tpp);
  if (rebased) {
    session.tpp = rebased.tpp;
    const origin = (base: string) => (base.endsWith(SANDBOX_PREFIX) ? base.slice(0, -SANDBOX_PREFIX.length) : base);
    note(
      `re-issued the key set URLs of ${session.tpp.softwareId} (${session.tpp.name}) for the server running at ${origin(session.tpp.jwksBaseUrl)} (they named ${origin(rebased.named)})`,
    );
  }
  const url = session.tpp.ssaClaims.software_jwks_endpoint;
  const defaultCa = join(config.derived.dataDir, 'pki', 'ca.pem');
  const agent = new Agent({ connect: existsSync(defaultCa) ? { ca: readFileSync(defaultCa, 'utf8') } : {} });
  let problem: string | undefined;
  try {
    const res = await request(url, { headers: { accept: 'application/json' }, dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
    await res.body.text();
    if (res.statusCode !== 200) problem = `HTTP ${res.statusCode}`;
  } catch (err) {
    problem = networkFailure(err).reason;
  } finally {
    await agent.close();
  }
  if (problem === undefined) return;
  const ours = session.tpp.jwksBaseUrl === sandboxBase(config).url;
  const hint = ours
    ? 'the server of this data folder publishes them: start it, then run the command again'
    : `they name a server other than this data folder's (${sandboxBase(config).url}): once that server runs, \`opendcr sandbox tpp reissue --tpp ${session.tpp.softwareId}\``;
  throw new CliError(`the key set URLs of ${session.tpp.softwareId} (${session.tpp.name}) do not answer: ${url}: ${problem}; ${hint}`);
}

/**
 * Throws a CliError carrying the server's `error` and `error_description` unless the exchange
 * has the expected status.
 */
export function expectStatus(ex: Exchange, expected: number, what: string): void {
  if (ex.status === expected) return;
  const body = ex.body as { error?: unknown; error_description?: unknown } | undefined;
  const detail =
    typeof body === 'object' && body !== null && typeof body.error === 'string'
      ? `${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description}` : ''}`
      : typeof ex.body === 'string'
        ? ex.body.slice(0, 300)
        : 'no error description';
  throw new CliError(`the server rejected ${what} (HTTP ${ex.status}): ${detail}`);
}

export const registerUrl = (session: TppSession): string => `${session.server}/open-banking/${session.version}/register`;

/** The scope a TPP asks for by default: openid plus the OB scope of each of its roles. */
export const defaultScope = (tpp: SandboxTpp): string => ['openid', ...tpp.roles.map((r) => ROLE_SCOPES[r])].join(' ');

export interface RegistrationRequest {
  readonly ssa: string;
  readonly ssaClaims: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
  /** The signed request (PS256, the TPP's signing kid). */
  readonly jwt: string;
}

/**
 * Builds and signs a full registration request (OB DCR OBClientRegistration1) with a freshly
 * minted SSA, which is also saved as ssa.jwt. `clientId` is set for an update (RFC 7592 §2.2).
 */
export async function buildRegistrationRequest(
  session: TppSession,
  opts: { auth: AuthMethod; scope?: string; clientId?: string },
): Promise<RegistrationRequest> {
  const { tpp } = session;
  const ssa = await tpp.mintSsa();
  writeFileAtomic(session.files.ssa, `${ssa}\n`);
  const iat = Math.floor(Date.now() / 1000);
  // v3.1 named the DN claim tls_client_auth_dn; v3.2 adopted RFC 8705's name.
  const dnClaim = session.version === 'v3.1' ? 'tls_client_auth_dn' : 'tls_client_auth_subject_dn';
  const claims: Record<string, unknown> = {
    iss: tpp.softwareId,
    aud: registerUrl(session),
    iat,
    exp: iat + 300,
    jti: randomUUID(),
    ...(opts.clientId === undefined ? {} : { client_id: opts.clientId }),
    software_id: tpp.softwareId,
    software_statement: ssa,
    redirect_uris: [...tpp.redirectUris],
    token_endpoint_auth_method: opts.auth,
    ...(opts.auth === 'private_key_jwt' ? { token_endpoint_auth_signing_alg: 'PS256' } : { [dnClaim]: certificateSubjectDn(tpp.transport.x509) }),
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code id_token'],
    scope: opts.scope ?? defaultScope(tpp),
    application_type: 'web',
    id_token_signed_response_alg: 'PS256',
    request_object_signing_alg: 'PS256',
  };
  const jwt = await tpp.signRequest(claims);
  return { ssa, ssaClaims: decodeJwt(ssa) as Record<string, unknown>, claims, jwt };
}

const joseHeaders = { 'content-type': 'application/jose' };

/** POST /register. On 201 writes registration.json; the exchange is returned either way. */
export async function register(session: TppSession, opts: { auth: AuthMethod; scope?: string }): Promise<{ request: RegistrationRequest; exchange: Exchange }> {
  const req = await buildRegistrationRequest(session, opts);
  const exchange = await send(session, 'POST', registerUrl(session), { headers: joseHeaders, body: req.jwt });
  if (exchange.status === 201) saveRegistration(session, exchange.body, opts.auth);
  return { request: req, exchange };
}

function saveRegistration(session: TppSession, body: unknown, auth: AuthMethod): void {
  const b = (body ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof b[k] === 'string' ? { [k]: b[k] as string } : {});
  const previous = session.registration;
  const registration: Registration = {
    client_id: String(b['client_id'] ?? previous?.client_id),
    server: session.server,
    version: session.version,
    token_endpoint_auth_method: (b['token_endpoint_auth_method'] as AuthMethod | undefined) ?? auth,
    ...str('scope'),
    ...str('registration_client_uri'),
    // A PUT answer carries a new one; a GET none, so keep the last.
    ...(previous?.registration_access_token ? { registration_access_token: previous.registration_access_token } : {}),
    ...str('registration_access_token'),
    registered_at: previous?.registered_at ?? new Date().toISOString(),
    local: session.local,
  };
  writeFileAtomic(session.files.registration, `${JSON.stringify(registration, null, 2)}\n`, 0o600);
  session.registration = registration;
}

/** The client_id to manage: the one given, else the registration's; CliError when neither. */
export function clientIdOf(session: TppSession, given?: string): string {
  const id = given ?? session.registration?.client_id;
  if (!id) {
    throw new CliError(
      `TPP ${session.tpp.softwareId} (${session.tpp.name}) is not registered (no ${session.files.registration}): ` +
        `run \`opendcr tpp register --tpp ${session.tpp.softwareId}\` first, or pass --client-id`,
    );
  }
  return id;
}

/** The token endpoint from the server's discovery document (fetched once per session). */
export async function tokenEndpoint(session: TppSession): Promise<string> {
  if (session.tokenEndpoint) return session.tokenEndpoint;
  const ex = await send(session, 'GET', `${session.server}/.well-known/openid-configuration`);
  expectStatus(ex, 200, 'the discovery request');
  const endpoint = (ex.body as { token_endpoint?: unknown })['token_endpoint'];
  if (typeof endpoint !== 'string') throw new CliError(`${session.server}/.well-known/openid-configuration has no token_endpoint`);
  session.tokenEndpoint = endpoint;
  return endpoint;
}

export interface TokenResult {
  readonly exchange: Exchange;
  readonly form: Readonly<Record<string, string>>;
  /** The private_key_jwt client assertion, when used. */
  readonly assertion?: string;
  readonly accessToken?: string;
}

/** The default client_credentials scope: the registered API scopes (openid gives no API token). */
export function defaultTokenScope(session: TppSession): string | undefined {
  const scopes = (session.registration?.scope ?? defaultScope(session.tpp)).split(' ').filter((s) => s && s !== 'openid');
  return scopes.length > 0 ? scopes.join(' ') : undefined;
}

/**
 * The form fields that authenticate the client at `endpoint` (the token endpoint): a fresh
 * private_key_jwt assertion (RFC 7523, PS256, the signing kid), or tls_client_auth's client_id
 * (RFC 8705 §2; the certificate does the rest).
 */
export async function clientAuthForm(session: TppSession, clientId: string, auth: AuthMethod, endpoint: string): Promise<Record<string, string>> {
  if (auth !== 'private_key_jwt') return { client_id: clientId };
  // signRequest fills iat, exp (+5 min) and a fresh jti.
  const assertion = await session.tpp.signRequest({ iss: clientId, sub: clientId, aud: endpoint });
  return { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion };
}

/**
 * client_credentials grant over mTLS: private_key_jwt (RFC 7523 client assertion, PS256, the
 * signing kid, aud = token endpoint) or tls_client_auth (RFC 8705 §2, client_id in the form).
 */
export async function requestToken(session: TppSession, opts: { clientId: string; auth: AuthMethod; scope?: string }): Promise<TokenResult> {
  const endpoint = await tokenEndpoint(session);
  const scope = opts.scope ?? defaultTokenScope(session);
  const form: Record<string, string> = {
    grant_type: 'client_credentials',
    ...(scope ? { scope } : {}),
    ...(await clientAuthForm(session, opts.clientId, opts.auth, endpoint)),
  };
  const assertion = form['client_assertion'];
  const exchange = await send(session, 'POST', endpoint, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const token = (exchange.body as { access_token?: unknown } | undefined)?.access_token;
  return { exchange, form, ...(assertion ? { assertion } : {}), ...(typeof token === 'string' ? { accessToken: token } : {}) };
}

const OB = 'http://openbanking.org.uk';

/**
 * OB's `x-jws-signature` for a request body: a detached JWS with an unencoded payload (RFC 7797,
 * `b64: false`) signed PS256 with the TPP's signing key, its protected header naming the key and
 * carrying OB's critical claims `iat`, `iss` (`{org_id}/{software_id}`) and `tan` (the trust
 * anchor that issued the TPP's signing certificate). `body` is signed exactly as it is sent.
 */
export async function detachedJws(session: TppSession, body: string, trustAnchor: string): Promise<string> {
  const { tpp } = session;
  const claims = { [`${OB}/iat`]: Math.floor(Date.now() / 1000), [`${OB}/iss`]: `${tpp.orgId}/${tpp.softwareId}`, [`${OB}/tan`]: trustAnchor };
  const jws = await new FlattenedSign(new TextEncoder().encode(body))
    .setProtectedHeader({ alg: 'PS256', kid: tpp.signingKey.kid, b64: false, crit: ['b64', ...Object.keys(claims)], ...claims })
    .sign(tpp.signingKey.key, { crit: Object.fromEntries(Object.keys(claims).map((k) => [k, true])) });
  return `${jws.protected}..${jws.signature}`;
}

export const clientUrl = (session: TppSession, clientId: string): string => `${registerUrl(session)}/${encodeURIComponent(clientId)}`;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** GET /register/{ClientId}; a 200 refreshes registration.json. */
export async function readClient(session: TppSession, clientId: string, accessToken: string): Promise<Exchange> {
  const ex = await send(session, 'GET', clientUrl(session, clientId), { headers: bearer(accessToken) });
  if (ex.status === 200 && session.registration?.client_id === clientId) saveRegistration(session, ex.body, session.registration.token_endpoint_auth_method);
  return ex;
}

/** PUT /register/{ClientId} with a freshly signed full request; a 200 rewrites registration.json. */
export async function updateClient(
  session: TppSession,
  clientId: string,
  accessToken: string,
  opts: { auth: AuthMethod; scope?: string },
): Promise<{ request: RegistrationRequest; exchange: Exchange }> {
  const req = await buildRegistrationRequest(session, { ...opts, clientId });
  const exchange = await send(session, 'PUT', clientUrl(session, clientId), { headers: { ...joseHeaders, ...bearer(accessToken) }, body: req.jwt });
  if (exchange.status === 200) saveRegistration(session, exchange.body, opts.auth);
  return { request: req, exchange };
}

/** DELETE /register/{ClientId}; a 204 removes registration.json when it is this client's. */
export async function deleteClient(session: TppSession, clientId: string, accessToken: string): Promise<Exchange> {
  const ex = await send(session, 'DELETE', clientUrl(session, clientId), { headers: bearer(accessToken) });
  if (ex.status === 204 && session.registration?.client_id === clientId) {
    rmSync(session.files.registration, { force: true });
    session.registration = undefined;
  }
  return ex;
}
