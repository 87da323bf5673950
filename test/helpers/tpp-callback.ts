/**
 * A TPP's redirect URI host for the PSU browser tests: real HTTPS on 127.0.0.1 under the TPP's
 * host names (DCR refuses loopback redirect URIs, so the TPP is addressed by name, as a real one
 * is; the browser resolves those names to 127.0.0.1), recording every request it receives.
 */
import { createServer, type Server } from 'node:https';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';

export interface ReceivedRequest {
  /** The Host header: which of the TPP's names was asked. */
  readonly host: string;
  readonly method: string;
  /** Path and query as sent (a fragment never reaches the server). */
  readonly url: string;
}

export interface TppCallbackHost {
  readonly port: number;
  /** `https://{name}:{port}{path}`. */
  url(name: string, path: string): string;
  /** Every request so far but the browser's own favicon fetches, in order. */
  readonly received: readonly ReceivedRequest[];
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (a free port) with a certificate for `names` from a CA of its own. */
export async function startTppCallbackHost(names: readonly string[]): Promise<TppCallbackHost> {
  const ca = await createCertificateAuthority({ subject: 'C=GB, O=Test TPP, CN=Test TPP CA', validityDays: 1 });
  const tls = await issueServerCertificate(ca, { dnsNames: names, ipAddresses: [], validityDays: 1 });
  const received: ReceivedRequest[] = [];
  const server: Server = createServer({ cert: tls.chainPem, key: tls.keyPem }, (req, res) => {
    if (req.url !== '/favicon.ico') received.push({ host: req.headers.host ?? '', method: req.method ?? '', url: req.url ?? '' });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'" });
    res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>TPP</title></head><body><h1>Back at the TPP</h1></body></html>');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    url: (name, path) => `https://${name}:${port}${path}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
