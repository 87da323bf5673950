/**
 * A DCR test environment: a sandbox Open Banking directory (CAs, signing key), TPPs enrolled in
 * it, the sandbox key set host serving the directory and software JWKS, and a test server that
 * trusts that directory (SSA issuer, directory JWKS, transport certificates through the root CA
 * in its trust store). Requests go over real HTTPS with mutual TLS.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { createTruststore } from '../../src/tls/truststore.ts';
import { issueServerCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { createSandboxDirectory, type SandboxDirectory } from '../../src/sandbox/directory.ts';
import { createSandboxTpp, type SandboxTpp, type SandboxTppOptions } from '../../src/sandbox/tpp.ts';
import { startSandboxHost, type SandboxHost } from '../../src/sandbox/host.ts';
import type { SignOptions } from '../../src/sandbox/jws.ts';
import { GATEWAY, startTestCluster, startTestServer, type ClientTls, type ClusterTestServer, type TestServer, type TestServerBase } from './server.ts';
import { ROLE_SCOPES, THIRD_PARTY_ROLES } from '../../src/ob/roles.ts';

type Table = Record<string, unknown>;

/** OB DCR API versions as they appear in the path (v3.3.0 is the seed's form of v3.3). */
export type PathVersion = 'v3.1' | 'v3.2' | 'v3.3' | 'v3.3.0';

/** The software_redirect_uris of the default TPPs; requests ask for the first only. */
export const TPP_REDIRECTS = ['https://tpp.example.com/cb', 'https://tpp.example.com/cb2'] as const;

export interface RegisterOptions {
  version?: PathVersion;
  /** null sends no Content-Type header at all. */
  contentType?: string | null;
  /** Transport certificate; null presents none. Default: the TPP's own. */
  cert?: IssuedCertificate | ClientTls | null;
  /** Body sent as is instead of a signed request. */
  raw?: string;
  /** Bad-variant options for the request signature (alg, kid, key, header). */
  sign?: SignOptions;
}

export interface ManageOptions {
  version?: PathVersion;
  token?: string;
  /** The whole Authorization header (wins over token). */
  authorization?: string;
  /** Default: none (pass the TPP's transport). */
  cert?: IssuedCertificate | ClientTls | null;
  /** PUT body (compact JWS). */
  body?: string;
  contentType?: string;
}

export interface DcrEnvironment<S extends TestServerBase = TestServer> {
  readonly ts: S;
  readonly url: string;
  readonly directory: SandboxDirectory;
  readonly host: SandboxHost;
  /** AISP + PISP software. */
  readonly aispPisp: SandboxTpp;
  /** CBPII-only software. */
  readonly cbpii: SandboxTpp;
  /** Enrols another TPP in the directory, served by the host. */
  addTpp(opts: Partial<SandboxTppOptions> & Pick<SandboxTppOptions, 'roles'>): Promise<SandboxTpp>;
  /**
   * A complete, valid v3.3 registration request for `tpp` (scope: what its roles allow); an
   * override of `undefined` removes the claim.
   */
  validRequestClaims(tpp: SandboxTpp, overrides?: Table): Promise<Table>;
  /** POST /open-banking/{version}/register with `claims` signed by `tpp`. */
  register(tpp: SandboxTpp, claims: Table, opts?: RegisterOptions): Promise<Response>;
  /** GET / PUT / DELETE /open-banking/{version}/register/{clientId}. */
  manage(method: 'GET' | 'PUT' | 'DELETE', clientId: string, opts?: ManageOptions): Promise<Response>;
  /** POST /oauth2/token, client_credentials over the TPP's mutual TLS (a PS256 client assertion for private_key_jwt). */
  tokenResponse(
    tpp: SandboxTpp,
    clientId: string,
    method: 'private_key_jwt' | 'tls_client_auth',
    opts?: { scope?: string; cert?: IssuedCertificate },
  ): Promise<Response>;
  /** A client_credentials access token over the TPP's mutual TLS (asserts 200). */
  ccToken(
    tpp: SandboxTpp,
    clientId: string,
    method: 'private_key_jwt' | 'tls_client_auth',
    opts?: { scope?: string; cert?: IssuedCertificate },
  ): Promise<string>;
  /** Gateway introspection of a token (RFC 7662). */
  introspect(token: string, hint?: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The scope a TPP's roles allow: "openid accounts payments" for an AISP + PISP. */
export function scopeFor(tpp: SandboxTpp): string {
  return ['openid', ...THIRD_PARTY_ROLES.filter((r) => tpp.roles.includes(r)).map((r) => ROLE_SCOPES[r])].join(' ');
}

/** The certificate and key presented over mutual TLS: the leaf plus its issuing CA, so the server can build the chain. */
export function tlsOf(cert: IssuedCertificate | ClientTls): ClientTls {
  return 'chainPem' in cert ? { certPem: cert.chainPem, keyPem: cert.keyPem } : cert;
}

/**
 * Starts the directory, its key set host, two TPPs and a test server trusting them.
 * `overrides` (shaped like opendcr.toml) are merged over the DCR settings. With `workers`, the
 * server runs as `npm start` runs it: a primary and that many worker processes.
 */
export async function startDcrEnvironment(overrides?: Table): Promise<DcrEnvironment<TestServer>>;
export async function startDcrEnvironment(overrides: Table, opts: { workers: number }): Promise<DcrEnvironment<ClusterTestServer>>;
export async function startDcrEnvironment(overrides: Table, opts: { now: () => number }): Promise<DcrEnvironment<TestServer>>;
export async function startDcrEnvironment(overrides: Table = {}, opts: { workers?: number; now?: () => number } = {}): Promise<DcrEnvironment<TestServerBase>> {
  const directory = await createSandboxDirectory();
  const tpps: SandboxTpp[] = [];
  let host: SandboxHost | undefined;
  let ts: TestServerBase;
  const start =
    opts.workers === undefined
      ? startTestServer
      : (o: Table, hooks: Parameters<typeof startTestServer>[1]) => startTestCluster(o, { ...hooks, workers: opts.workers! });
  try {
    ts = await start(overrides, {
      ...(opts.now ? { now: opts.now } : {}),
      async prepare({ truststoreDir, sandboxCa }) {
        // The server's outbound fetch trusts its own sandbox CA, so the key set host uses a certificate from it.
        const serverCert = await issueServerCertificate(sandboxCa, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 2 });
        host = await startSandboxHost({ directory, tpps: () => tpps, serverCert, caPem: sandboxCa.certPem });
        // Transport certificates chain to the directory's root (through its issuing CA).
        createTruststore(truststoreDir).add(directory.rootCa.certPem, 'sandbox-directory-root');
        // Merged over `overrides` by the harness: keep the caller's own values.
        const oauth = (overrides['oauth'] ?? {}) as Table;
        const dcr = ((overrides['open_banking'] as Table | undefined)?.['dcr'] ?? {}) as Table;
        return {
          oauth: { allowed_outbound_hosts: [...((oauth['allowed_outbound_hosts'] as string[] | undefined) ?? []), host.host] },
          open_banking: { dcr: { jwks_url_sandbox: host.directoryJwksUrl, regulatory_issuers: [directory.issuer], ...dcr } },
        };
      },
    });
  } catch (err) {
    await host?.close().catch(() => undefined);
    throw err;
  }
  const h = host!;
  const client = dcrClient(ts, directory, h, tpps);

  let aispPisp: SandboxTpp;
  let cbpii: SandboxTpp;
  try {
    aispPisp = await client.addTpp({ name: 'Acme Accounts and Payments Ltd', roles: ['AISP', 'PISP'] });
    cbpii = await client.addTpp({ name: 'Acme Funds Confirmation Ltd', roles: ['CBPII'], redirectUris: ['https://cbpii.example.com/cb'] });
  } catch (err) {
    await ts.close();
    await h.close();
    throw err;
  }

  return {
    ts,
    directory,
    host: h,
    aispPisp,
    cbpii,
    ...client,
    async close() {
      await ts.close();
      await h.close();
    },
  };
}

/** What a DCR client does against one server: the requests of {@link DcrEnvironment}. */
export type DcrClient = Omit<DcrEnvironment<TestServerBase>, 'ts' | 'directory' | 'host' | 'aispPisp' | 'cbpii' | 'close'>;

/**
 * The DCR requests of a TPP against `ts` (its url and fetch), with TPPs enrolled in `directory`
 * and served by `host`; `tpps` is the host's list, which addTpp extends. Several servers (hosts
 * of one cluster) can share the directory, the host and the TPPs.
 */
export function dcrClient(ts: Pick<TestServerBase, 'url' | 'fetch'>, directory: SandboxDirectory, h: SandboxHost, tpps: SandboxTpp[]): DcrClient {
  const url = ts.url;

  async function addTpp(opts: Partial<SandboxTppOptions> & Pick<SandboxTppOptions, 'roles'>): Promise<SandboxTpp> {
    const tpp = await createSandboxTpp(directory, {
      name: opts.name ?? `TPP ${opts.roles.join(' ')} ${tpps.length + 1}`,
      redirectUris: opts.redirectUris ?? [...TPP_REDIRECTS],
      jwksBaseUrl: h.url,
      ...opts,
    });
    tpps.push(tpp);
    return tpp;
  }

  const path = (version: PathVersion, clientId?: string) =>
    `/open-banking/${version}/register${clientId === undefined ? '' : `/${encodeURIComponent(clientId)}`}`;
  const certOf = (cert: IssuedCertificate | ClientTls | null | undefined) => (cert ? tlsOf(cert) : undefined);

  async function validRequestClaims(tpp: SandboxTpp, overrides: Table = {}): Promise<Table> {
    return {
      aud: url,
      redirect_uris: [tpp.redirectUris[0]],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'PS256',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      response_types: ['code id_token'],
      scope: scopeFor(tpp),
      application_type: 'web',
      id_token_signed_response_alg: 'PS256',
      request_object_signing_alg: 'PS256',
      software_statement: await tpp.mintSsa(),
      ...overrides,
    };
  }

  async function register(tpp: SandboxTpp, claims: Table, opts: RegisterOptions = {}): Promise<Response> {
    const body = opts.raw ?? (await tpp.signRequest(claims, opts.sign));
    const contentType = opts.contentType === undefined ? 'application/jose' : opts.contentType;
    const cert = opts.cert === undefined ? tpp.transport : opts.cert;
    return ts.fetch(path(opts.version ?? 'v3.3'), {
      method: 'POST',
      // A Buffer body: undici adds no Content-Type of its own (a string would get text/plain).
      headers: { accept: 'application/json', ...(contentType === null ? {} : { 'content-type': contentType }) },
      body: Buffer.from(body),
      ...(certOf(cert) ? { cert: certOf(cert)! } : {}),
    });
  }

  async function manage(method: 'GET' | 'PUT' | 'DELETE', clientId: string, opts: ManageOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const authorization = opts.authorization ?? (opts.token === undefined ? undefined : `Bearer ${opts.token}`);
    if (authorization !== undefined) headers['authorization'] = authorization;
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/jose';
    return ts.fetch(path(opts.version ?? 'v3.3', clientId), {
      method,
      headers,
      ...(opts.body === undefined ? {} : { body: Buffer.from(opts.body) }),
      ...(certOf(opts.cert) ? { cert: certOf(opts.cert)! } : {}),
    });
  }

  async function tokenResponse(
    tpp: SandboxTpp,
    clientId: string,
    method: 'private_key_jwt' | 'tls_client_auth',
    opts: { scope?: string; cert?: IssuedCertificate } = {},
  ): Promise<Response> {
    const form: Record<string, string> = { grant_type: 'client_credentials', client_id: clientId };
    if (opts.scope !== undefined) form['scope'] = opts.scope;
    if (method === 'private_key_jwt') {
      form['client_assertion_type'] = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
      form['client_assertion'] = await new SignJWT({})
        .setProtectedHeader({ alg: 'PS256', kid: tpp.signingKey.kid })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(`${url}/oauth2/token`)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(tpp.signingKey.key);
    }
    return ts.fetch('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      cert: tlsOf(opts.cert ?? tpp.transport),
    });
  }

  async function ccToken(
    tpp: SandboxTpp,
    clientId: string,
    method: 'private_key_jwt' | 'tls_client_auth',
    opts: { scope?: string; cert?: IssuedCertificate } = {},
  ): Promise<string> {
    const json = await jsonBody(await tokenResponse(tpp, clientId, method, opts), 200);
    assert.equal(typeof json['access_token'], 'string', `client_credentials (${method}) for ${clientId}`);
    return json['access_token'] as string;
  }

  async function introspect(token: string, hint?: string): Promise<Record<string, unknown>> {
    const res = await ts.fetch('/oauth2/introspect', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${GATEWAY.client_id}:${GATEWAY.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token, ...(hint ? { token_type_hint: hint } : {}) }).toString(),
    });
    return jsonBody(res, 200);
  }

  return { url, addTpp, validRequestClaims, register, manage, tokenResponse, ccToken, introspect };
}

/** Reads a JSON body, asserting the status first (with the body in the message). */
export async function jsonBody(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return JSON.parse(text) as Record<string, unknown>;
}
