/**
 * A small real OIDC server for the gateway's external key manager tests: oidc-provider over HTTPS
 * (its certificate from the test server's sandbox CA, which the gateway's outbound fetch trusts),
 * issuing client-credentials access tokens bound to the caller's certificate (RFC 8705), as
 * ES256 JWTs for one resource and opaque tokens for another, with discovery, JWKS and RFC 7662
 * introspection for a "gateway" client.
 */
import { createServer, type Server } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import type { ClientTls } from './server.ts';

export const JWT_RESOURCE = 'https://bank.example/apis';
export const OPAQUE_RESOURCE = 'https://bank.example/opaque';
export const EXTERNAL_TPP = { client_id: 'external-tpp', client_secret: 'external-tpp-secret-0123456789' } as const;
export const INTROSPECTOR = { client_id: 'gateway-introspector', client_secret: 'gateway-introspector-secret-0123' } as const;

export interface ExternalOidc {
  readonly issuer: string;
  readonly host: string;
  /** A client-credentials token for `scope`, bound to `tls` (JWT, or opaque for OPAQUE_RESOURCE). */
  token(tls: ClientTls, scope: string, resource?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startExternalOidc(opts: { port: number; serverTls: ClientTls; serverCaPem: string; clientCaPems: string[] }): Promise<ExternalOidc> {
  const issuer = `https://localhost:${opts.port}`;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'external-es256', alg: 'ES256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: [
      { ...EXTERNAL_TPP, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', tls_client_certificate_bound_access_tokens: true, id_token_signed_response_alg: 'ES256' },
      { ...INTROSPECTOR, grant_types: [], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256' },
    ],
    jwks: { keys: [jwk] },
    scopes: ['accounts', 'fundsconfirmations'],
    // The TPP's roles travel in a claim the key manager's claim mapping names.
    extraTokenClaims: () => ({ software_roles: ['CBPII'] }),
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
          scope: 'accounts fundsconfirmations', audience: resource,
          accessTokenFormat: resource === OPAQUE_RESOURCE ? 'opaque' : 'jwt', jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  } as never);
  const server: Server = createServer({ cert: opts.serverTls.certPem, key: opts.serverTls.keyPem, ca: opts.clientCaPems, requestCert: true, rejectUnauthorized: false }, provider.callback() as never);
  await new Promise<void>((resolve) => server.listen(opts.port, '127.0.0.1', resolve));
  const agents: Agent[] = [];
  return {
    issuer,
    host: `localhost:${(server.address() as AddressInfo).port}`,
    async token(tls, scope, resource = JWT_RESOURCE) {
      const agent = new Agent({ connect: { ca: opts.serverCaPem, cert: tls.certPem, key: tls.keyPem } });
      agents.push(agent);
      const res = await undiciFetch(`${issuer}/token`, {
        method: 'POST', dispatcher: agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${EXTERNAL_TPP.client_id}:${EXTERNAL_TPP.client_secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }).toString(),
      });
      const body = await res.json() as Record<string, unknown>;
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
