/**
 * A small real OIDC server for the gateway's external key manager tests: oidc-provider over HTTPS
 * (its certificate from the test server's sandbox CA, which the gateway's outbound fetch trusts),
 * issuing client-credentials access tokens bound to the caller's certificate (RFC 8705), as
 * ES256 JWTs for one resource and opaque tokens for another, with discovery, JWKS and RFC 7662
 * introspection for a "gateway" client. It can also sign a token of any claims with its own key
 * (what a key manager may put in a token it issues), and serve its discovery document with fields
 * changed (a misconfigured or hostile key manager, for the checks made when one is saved).
 */
import { createServer, type Server } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import type { ClientTls } from './server.ts';

export const JWT_RESOURCE = 'https://bank.example/apis';
export const OPAQUE_RESOURCE = 'https://bank.example/opaque';
export const EXTERNAL_TPP = { client_id: 'external-tpp', client_secret: 'external-tpp-secret-0123456789' } as const;
export const INTROSPECTOR = { client_id: 'gateway-introspector', client_secret: 'gateway-introspector-secret-0123' } as const;

export interface ExternalOidc {
  readonly issuer: string;
  readonly host: string;
  /** A client-credentials token of `clientId` (default EXTERNAL_TPP) for `scope`, bound to `tls` (JWT, or opaque for OPAQUE_RESOURCE). */
  token(tls: ClientTls, scope: string, resource?: string, clientId?: string): Promise<string>;
  /** An access token JWT of these claims (iss, iat and exp added unless given), signed with this server's key. */
  sign(claims: Record<string, unknown>): Promise<string>;
  /** Serves this server's discovery document with `changes` applied (undefined removes a field); returns its URL. */
  discoveryVariant(name: string, changes: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export interface ExternalOidcOptions {
  port: number;
  serverTls: ClientTls;
  serverCaPem: string;
  clientCaPems: string[];
  /** More clients like EXTERNAL_TPP (same secret), by client id: e.g. one named like a resident client. */
  clientIds?: readonly string[];
  /** The roles claim (software_roles) of every token; default ['CBPII']. */
  roles?: readonly string[];
}

export async function startExternalOidc(opts: ExternalOidcOptions): Promise<ExternalOidc> {
  const issuer = `https://localhost:${opts.port}`;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'external-es256', alg: 'ES256', use: 'sig' };
  const tpp = (client_id: string) => ({
    client_id,
    client_secret: EXTERNAL_TPP.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    tls_client_certificate_bound_access_tokens: true,
    id_token_signed_response_alg: 'ES256',
  });
  const provider = new Provider(issuer, {
    clients: [
      tpp(EXTERNAL_TPP.client_id),
      ...(opts.clientIds ?? []).map(tpp),
      {
        ...INTROSPECTOR,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [jwk] },
    scopes: ['accounts', 'fundsconfirmations', 'payments'],
    // The TPP's roles travel in a claim the key manager's claim mapping names.
    extraTokenClaims: () => ({ software_roles: [...(opts.roles ?? ['CBPII'])] }),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx: { req: { socket: TLSSocket } }) => {
          const raw = ctx.req.socket.getPeerCertificate?.()?.raw;
          return raw?.length ? new X509Certificate(raw).toString() : undefined;
        },
        certificateAuthorized: (ctx: { req: { socket: TLSSocket } }) => ctx.req.socket.authorized,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => JWT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'accounts fundsconfirmations payments',
          audience: resource,
          accessTokenFormat: resource === OPAQUE_RESOURCE ? 'opaque' : 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  } as never);
  const variants = new Map<string, string>();
  const callback = provider.callback();
  const server: Server = createServer(
    { cert: opts.serverTls.certPem, key: opts.serverTls.keyPem, ca: opts.clientCaPems, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const variant = variants.get(req.url ?? '');
      if (variant === undefined) {
        void callback(req, res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(variant);
    },
  );
  await new Promise<void>((resolve) => server.listen(opts.port, '127.0.0.1', resolve));
  const agents: Agent[] = [];
  const signingKey = await importJWK(jwk, 'ES256');
  return {
    issuer,
    host: `localhost:${(server.address() as AddressInfo).port}`,
    async sign(claims) {
      const t = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, iat: t, exp: t + 300, ...claims }).setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'at+jwt' }).sign(signingKey);
    },
    async discoveryVariant(name, changes) {
      const agent = new Agent({ connect: { ca: opts.serverCaPem } });
      agents.push(agent);
      const doc = (await (await undiciFetch(`${issuer}/.well-known/openid-configuration`, { dispatcher: agent })).json()) as Record<string, unknown>;
      const path = `/variants/${encodeURIComponent(name)}/.well-known/openid-configuration`;
      variants.set(path, JSON.stringify({ ...doc, ...changes }));
      return `${issuer}${path}`;
    },
    async token(tls, scope, resource = JWT_RESOURCE, clientId: string = EXTERNAL_TPP.client_id) {
      const agent = new Agent({ connect: { ca: opts.serverCaPem, cert: tls.certPem, key: tls.keyPem } });
      agents.push(agent);
      const res = await undiciFetch(`${issuer}/token`, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${EXTERNAL_TPP.client_secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }).toString(),
      });
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) throw new Error(`external token: ${res.status} ${JSON.stringify(body)}`);
      return String(body['access_token']);
    },
    async close() {
      await Promise.all(agents.map((a) => a.close()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
