/**
 * Serves the sandbox directory's key sets the way the OB Directory's keystore does: the
 * directory JWKS, and per organisation the org and software JWKS and their revoked lists.
 * The routes are a pure function so the main server can mount the same paths.
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueServerCertificate } from '../crypto/pki.ts';
import type { IssuedCertificate } from '../crypto/pki.ts';
import type { SandboxDirectory } from './directory.ts';
import type { SandboxTpp } from './tpp.ts';

/** A route's answer; `body` is JSON-serialisable. */
export interface SandboxRouteResult {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** Path (query ignored) → answer, or undefined when the path is not a key set path at all. */
export type SandboxJwksRoutes = (path: string) => SandboxRouteResult | undefined;

const FOUND_HEADERS = { 'content-type': 'application/json', 'cache-control': 'max-age=300' } as const;
// A revocation must take effect at once: revoked lists are never served from a cache.
const REVOKED_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-cache' } as const;
const NOT_FOUND: SandboxRouteResult = {
  status: 404,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: { error: 'not_found' },
};
const KEY_SET_PATH = /^\/([0-9A-Za-z]+)\/(?:(revoked)\/)?([0-9A-Za-z]+)\.jwks$/;

/**
 * The key set routes:
 * - `/directory/jwks`: directory JWKS (verifies SSAs);
 * - `/{orgId}/{softwareId}.jwks`, `/{orgId}/revoked/{softwareId}.jwks`: software keys;
 * - `/{orgId}/{orgId}.jwks`, `/{orgId}/revoked/{orgId}.jwks`: organisation keys.
 *
 * Unknown ids on a key set path answer 404; `tpps` is read on every call, so TPPs created
 * later (or keys revoked later) show up at once.
 */
export function sandboxJwksRoutes(directory: SandboxDirectory, tpps: () => readonly SandboxTpp[]): SandboxJwksRoutes {
  return (rawPath) => {
    const path = rawPath.split('?', 1)[0]!;
    if (path === '/directory/jwks') return found(directory.jwks);
    const match = KEY_SET_PATH.exec(path);
    if (!match) return undefined;
    const [, orgId, revoked, id] = match;
    const inOrg = tpps().filter((tpp) => tpp.orgId === orgId);
    if (inOrg.length === 0) return NOT_FOUND;
    if (id === orgId) {
      const keys = inOrg.flatMap((tpp) => (revoked ? tpp.orgRevokedJwks : tpp.orgJwks).keys);
      return found({ keys }, revoked !== undefined);
    }
    const tpp = inOrg.find((t) => t.softwareId === id);
    if (!tpp) return NOT_FOUND;
    return found(revoked ? tpp.revokedJwks : tpp.softwareJwks, revoked !== undefined);
  };
}

function found(body: unknown, revokedList = false): SandboxRouteResult {
  return { status: 200, headers: revokedList ? REVOKED_HEADERS : FOUND_HEADERS, body };
}

export interface SandboxHostOptions {
  readonly directory: SandboxDirectory;
  readonly tpps: () => readonly SandboxTpp[];
  /** TLS certificate; default one for 127.0.0.1 and localhost from the directory's issuing CA. */
  readonly serverCert?: IssuedCertificate;
  /** What clients must trust for `serverCert`; default the directory's root CA. */
  readonly caPem?: string;
  /** Address to listen on, also the host of its URLs; default 127.0.0.1 (`serverCert` must name it). */
  readonly address?: string;
}

export interface SandboxHost {
  /** `https://{address}:<port>`: use as the TPPs' `jwksBaseUrl`. */
  readonly url: string;
  /** `{address}:<port>`, for an outbound allow-list. */
  readonly host: string;
  /** CA certificate (PEM) to trust for this host. */
  readonly caPem: string;
  /** URL of the directory JWKS. */
  readonly directoryJwksUrl: string;
  close(): Promise<void>;
}

/** Starts the key set host on 127.0.0.1 (or `address`), on a free port. */
export async function startSandboxHost(opts: SandboxHostOptions): Promise<SandboxHost> {
  const address = opts.address ?? '127.0.0.1';
  const tls =
    opts.serverCert ??
    (await issueServerCertificate(opts.directory.issuingCa, {
      dnsNames: ['localhost'],
      ipAddresses: [...new Set(['127.0.0.1', address])],
      validityDays: 397,
    }));
  const routes = sandboxJwksRoutes(opts.directory, opts.tpps);
  const server = createServer({ cert: tls.chainPem, key: tls.keyPem }, (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end('{"error":"method_not_allowed"}');
      return;
    }
    const answer = routes(req.url ?? '/') ?? NOT_FOUND;
    const body = JSON.stringify(answer.body);
    res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://${address}:${port}`;
  return {
    url,
    host: `${address}:${port}`,
    caPem: opts.caPem ?? opts.directory.rootCa.certPem,
    directoryJwksUrl: `${url}/directory/jwks`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
