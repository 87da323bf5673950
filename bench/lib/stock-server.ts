/**
 * The peer: stock oidc-provider configured as close to our token endpoint as its options allow,
 * run the way its documentation suggests (node:cluster workers, `provider.callback()` on an HTTPS
 * server). Usage: node [flags] bench/lib/stock-server.ts <config.json>
 *
 * Same as ours: HTTPS with our server certificate, a client certificate requested on every
 * connection (mutual TLS, checked per request, not by the handshake), client_credentials with
 * private_key_jwt PS256, certificate-bound JWT access tokens signed PS256 for a default resource,
 * the same number of processes. Unlike ours: the default in-memory adapter (nothing persisted,
 * replay detection per process), a static client, no FAPI profile, no Fastify in front.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import Provider from 'oidc-provider';

export interface StockConfig {
  port: number;
  workers: number;
  issuer: string;
  resource: string;
  scope: string;
  cert: string;
  key: string;
  /** CAs accepted for client certificates (the directory's). */
  ca: string[];
  /** Private RSA JWK with kid, alg PS256: the token signing key. */
  signingJwk: Record<string, unknown>;
  /** The client, with its jwks inline. */
  client: Record<string, unknown>;
}

function buildProvider(c: StockConfig): Provider {
  return new Provider(c.issuer, {
    clients: [c.client as never],
    jwks: { keys: [c.signingJwk as never] },
    scopes: [c.scope],
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['PS256'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx: { socket: TLSSocket }) => ctx.socket.getPeerX509Certificate(),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => c.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: c.scope, audience: c.resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'PS256' } } }),
      },
    },
  } as never);
}

if (import.meta.main) {
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as StockConfig;
  if (cluster.isPrimary && config.workers > 1) {
    cluster.setupPrimary({ execArgv: process.execArgv });
    for (let i = 0; i < config.workers; i++) cluster.fork();
    process.once('SIGTERM', () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      cluster.on('exit', () => {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      });
    });
  } else {
    const provider = buildProvider(config);
    const server = createServer({ cert: config.cert, key: config.key, ca: config.ca, requestCert: true, rejectUnauthorized: false }, provider.callback());
    server.listen(config.port, '127.0.0.1');
    process.once('SIGTERM', () => server.close(() => process.exit(0)));
    // Keep-alive connections would hold close() open; the bench is done with them by now.
    process.once('SIGTERM', () => setTimeout(() => process.exit(0), 2000).unref());
  }
}
