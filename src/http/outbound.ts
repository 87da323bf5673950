/**
 * The only way the server fetches from the network (client jwks_uri, trusted issuers' JWKS,
 * later the directory). Hosts must be on the configured allow-list; redirects are not followed;
 * responses are size-limited and time-limited. A refusal is an error with a safe message.
 */
import { getCACertificates } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';

export class OutboundFetchError extends Error {
  override readonly name = 'OutboundFetchError';
  /** Why the host could not be reached, in a few safe words (no addresses, no internals), when known. */
  readonly reason: string | undefined;

  constructor(message: string, opts: { cause?: unknown; reason?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.reason = opts.reason;
  }
}

// Node and undici error codes → what an operator or TPP developer can act on.
const NETWORK_REASONS: ReadonlyArray<[RegExp, string]> = [
  [/^ECONNREFUSED$/, 'connection refused'],
  [/^(ENOTFOUND|EAI_AGAIN|EAI_NONAME)$/, 'host name not found'],
  [/^(ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|ABORT_ERR|23)$/, 'timed out'],
  [/^(ECONNRESET|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED)$/, 'connection closed by the host'],
  [/^(ENETUNREACH|EHOSTUNREACH)$/, 'network unreachable'],
  [/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID/, 'its TLS certificate is not trusted'],
  [/^(ERR_SSL_|EPROTO)/, 'TLS handshake failed'],
];

/** A few safe words for why a fetch failed, read from the error's cause chain (undefined if unknown). */
export function networkFailureReason(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, name } = e as { code?: unknown; name?: unknown };
    if (name === 'TimeoutError' || name === 'AbortError') return 'timed out';
    if (typeof code === 'string' || typeof code === 'number') {
      const hit = NETWORK_REASONS.find(([pattern]) => pattern.test(String(code)));
      if (hit) return hit[1];
    }
  }
  return undefined;
}

export interface OutboundOptions {
  /** Allowed "host" or "host:port" entries (case-insensitive). */
  allowedHosts: readonly string[];
  /** Extra CA certificates (PEM) trusted for outbound TLS, e.g. the sandbox CA. */
  extraCaPems?: readonly string[];
  /** Allow plain http:// (sandbox only, never production). */
  allowHttp?: boolean;
  timeoutMs?: number;
  maxBytes?: number;
  /** A client certificate for mutual TLS (PEM chain and key). */
  clientCertificate?: { certPem: string; keyPem: string };
}

export type OutboundFetch = (
  url: string | URL,
  init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<Response>;

/** Is this URL on the allow-list? Exported so callers can reject early with a precise message. */
export function isAllowedUrl(url: URL, opts: Pick<OutboundOptions, 'allowedHosts' | 'allowHttp'>): boolean {
  if (url.protocol !== 'https:' && !(opts.allowHttp && url.protocol === 'http:')) return false;
  if (url.username || url.password) return false;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return opts.allowedHosts.some((entry) => {
    const e = parseHostEntry(entry);
    return e.host === host && (e.port === undefined || e.port === port);
  });
}

/** "host", "host:port", "[v6]:port" or a bare IPv6 address. */
function parseHostEntry(entry: string): { host: string; port?: string } {
  const s = entry.trim().toLowerCase();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return v6[2] === undefined ? { host: v6[1]! } : { host: v6[1]!, port: v6[2] };
  const i = s.lastIndexOf(':');
  if (i > 0 && s.indexOf(':') === i) return { host: s.slice(0, i), port: s.slice(i + 1) };
  return { host: s };
}

/** Creates the allow-listed fetch. The returned Response has its body already buffered within maxBytes. */
export function createOutboundFetch(opts: OutboundOptions): OutboundFetch & { close(): Promise<void> } {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxBytes = opts.maxBytes ?? 512 * 1024;
  const dispatcher = new Agent({
    // What Node trusts by default (its bundled roots, NODE_EXTRA_CA_CERTS, the system store when
    // --use-system-ca is on), plus the sandbox CA.
    connect: {
      ca: [...getCACertificates('default'), ...(opts.extraCaPems ?? [])],
      timeout: timeoutMs,
      ...(opts.clientCertificate ? { cert: opts.clientCertificate.certPem, key: opts.clientCertificate.keyPem } : {}),
    },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });

  const fetchFn = async (input: string | URL, init: Parameters<OutboundFetch>[1] = {}) => {
    const url = new URL(String(input));
    if (!isAllowedUrl(url, opts)) {
      throw new OutboundFetchError(`outbound request to ${url.host} is not allowed by configuration`);
    }
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    let res;
    try {
      res = await undiciFetch(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body, signal, redirect: 'manual', dispatcher });
    } catch (err) {
      const reason = networkFailureReason(err);
      throw new OutboundFetchError(`could not fetch ${url.origin}${url.pathname}${reason ? ` (${reason})` : ''}`, {
        cause: err,
        ...(reason ? { reason } : {}),
      });
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new OutboundFetchError(`${url.origin}${url.pathname} answered with a redirect, which is not followed`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxBytes) {
      await res.body?.cancel();
      throw new OutboundFetchError(`${url.origin}${url.pathname} response is larger than ${maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body) {
      for await (const chunk of res.body) {
        size += chunk.byteLength;
        if (size > maxBytes) {
          throw new OutboundFetchError(`${url.origin}${url.pathname} response is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk);
      }
    }
    return new Response(Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers: res.headers as unknown as Headers });
  };
  return Object.assign(fetchFn, { close: () => dispatcher.close() });
}
