/**
 * What runs before oidc-provider on its paths. It reads the request once, bounded, and refuses
 * what must not reach the library: JOSE-shaped parameters nesting JSON too deep (a deep array in a
 * client assertion overflowed the stack inside oidc-provider), oversized bodies, and requests that
 * authenticate a registered Open Banking client over a transport certificate that is untrusted,
 * expired or not its software's (the signing key alone must never yield a certificate-bound
 * token). It also treats an empty `scope=` at the token endpoint as absent (RFC 6749 §3.3; OB
 * TPPs send it). oidc-provider then gets the same body, replayed, and does the protocol.
 */
import { IncomingMessage, type ServerResponse } from 'node:http';
import type { ClientCertificate } from '../http/client-cert.ts';
import { keepClientRecords } from './request-clients.ts';
import { joseTooDeep, compactJoseSegments, MAX_JSON_DEPTH } from '../http/json-limits.ts';
import { type AppError, fail } from '../errors/app-error.ts';
import { sendError } from '../errors/to-response.ts';
import { OAUTH_ROUTES } from './routes.ts';

/** oidc-provider's own limit for form bodies (lib/shared/selective_body.js). */
export const PROVIDER_BODY_LIMIT = 56 * 1024;

/** Endpoints that authenticate the client from the form body or a Basic header. */
const CLIENT_AUTH_PATHS = new Set<string>([OAUTH_ROUTES.token, OAUTH_ROUTES.pushed_authorization_request, OAUTH_ROUTES.introspection, OAUTH_ROUTES.revocation]);

export interface RequestGuardDeps {
  /** A registered client's metadata; undefined for unknown and bank-internal (configured) clients. */
  findClient(clientId: string): Promise<Record<string, unknown> | undefined>;
  /** Why the certificate may not authenticate this client, or undefined when it may. */
  certificatePolicy(client: Record<string, unknown>, cert: ClientCertificate | undefined): Promise<AppError | undefined>;
  clientCert(req: IncomingMessage): ClientCertificate | undefined;
}

/**
 * Checks a request for oidc-provider. Resolves to the request to hand on (the original, or a
 * replay of its body), or to undefined when it has already answered with an error.
 */
export type RequestGuard = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<IncomingMessage | undefined>;

const tooDeep = (name: string) => fail('JSON_TOO_DEEP', `the ${name} parameter nests JSON more than ${MAX_JSON_DEPTH} levels deep`);
const tooLarge = () => fail('BODY_TOO_LARGE', 'request body too large');

function checkParams(params: URLSearchParams): void {
  for (const [name, value] of params) {
    if (joseTooDeep(value)) throw tooDeep(name.slice(0, 40).replace(/[^\w.-]/g, '?'));
  }
}

/**
 * The client ids a request claims to authenticate as: oidc-provider authenticates one of them or
 * none (it refuses repeated parameters and any disagreement among them), so checking these is
 * checking the client it will authenticate. At most four, whatever the body holds.
 */
function claimedClientIds(params: URLSearchParams, authorization: string | undefined): Set<string> {
  const ids = new Set<string>();
  const clientId = params.get('client_id');
  if (clientId !== null) ids.add(clientId);
  const parts = compactJoseSegments(params.get('client_assertion') ?? '');
  if (parts?.length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      for (const c of ['sub', 'iss']) if (typeof claims[c] === 'string') ids.add(claims[c] as string);
    } catch {
      // not JSON: oidc-provider answers for it
    }
  }
  const basic = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) {
      try {
        ids.add(decodeURIComponent(decoded.slice(0, i).replace(/\+/g, '%20')));
      } catch {
        // badly encoded: oidc-provider answers for it
      }
    }
  }
  return ids;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > PROVIDER_BODY_LIMIT) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > PROVIDER_BODY_LIMIT) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A request that reads as `body`, on the same socket, with the same headers. */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = new IncomingMessage(req.socket);
  copy.method = req.method!;
  copy.url = req.url!;
  copy.httpVersion = req.httpVersion;
  copy.httpVersionMajor = req.httpVersionMajor;
  copy.httpVersionMinor = req.httpVersionMinor;
  copy.headers = { ...req.headers, 'content-length': String(body.length) };
  delete copy.headers['transfer-encoding'];
  copy.rawHeaders = req.rawHeaders;
  // Complete, as the original is: a destroyed IncomingMessage that is not complete counts as
  // aborted and takes its socket (the keep-alive connection) down with it.
  copy.complete = true;
  copy.push(body);
  copy.push(null);
  return copy;
}

export function createRequestGuard(deps: RequestGuardDeps): RequestGuard {
  /** Checks the certificate of every client the request claims to be; the records read, by id. */
  async function checkCertificates(req: IncomingMessage, params: URLSearchParams): Promise<Map<string, Record<string, unknown>>> {
    const records = new Map<string, Record<string, unknown>>();
    for (const id of claimedClientIds(params, req.headers.authorization)) {
      const client = await deps.findClient(id);
      if (!client) continue;
      const refused = await deps.certificatePolicy(client, deps.clientCert(req));
      if (refused) throw refused;
      records.set(id, client);
    }
    return records;
  }

  return async (req, res, path) => {
    try {
      const q = req.url!.indexOf('?');
      if (q !== -1) checkParams(new URLSearchParams(req.url!.slice(q + 1)));
      if (req.method !== 'POST') return req;
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      // Other bodies are refused by oidc-provider without being parsed.
      if (type !== 'application/x-www-form-urlencoded') return req;
      const raw = await readBody(req);
      const params = new URLSearchParams(raw.toString('utf8'));
      checkParams(params);
      let body = raw;
      if (path === OAUTH_ROUTES.token && params.has('scope') && params.getAll('scope').every((s) => s.trim() === '')) {
        params.delete('scope');
        body = Buffer.from(params.toString());
      }
      const records = CLIENT_AUTH_PATHS.has(path) ? await checkCertificates(req, params) : undefined;
      const checked = replay(req, body);
      // The provider reads these clients again while handling this request: hand the records on.
      if (records) keepClientRecords(checked, records);
      return checked;
    } catch (err) {
      // OAuth errors as they are; a storage outage while looking the client up is a 503; anything
      // else (an aborted upload) a plain server_error, sent to a socket that may already be gone.
      sendError(res, err);
      return undefined;
    }
  };
}
