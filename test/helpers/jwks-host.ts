/**
 * A tiny HTTPS host for client jwks_uri documents (RFC 7591 §2), on 127.0.0.1 with a certificate
 * from the sandbox CA, so the server's allow-listed outbound fetch trusts it like a real TPP host.
 */
import { createServer, type Server } from 'node:https';
import type { JWK } from 'jose';

export interface JwksHost {
  /** Publishes (or replaces) a key set at `/{name}/jwks` and returns its URL. */
  publish(name: string, jwks: { keys: JWK[] }): string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (chosen by the caller so the server config can allow-list it first). */
export async function startJwksHost(port: number, tls: { certPem: string; keyPem: string }): Promise<JwksHost> {
  const sets = new Map<string, string>();
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const body = sets.get(req.url ?? '');
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body ?? '{"error":"not_found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    publish(name, jwks) {
      sets.set(`/${encodeURIComponent(name)}/jwks`, JSON.stringify(jwks));
      return `https://127.0.0.1:${port}/${encodeURIComponent(name)}/jwks`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
