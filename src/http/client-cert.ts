/**
 * Where a request's client (transport) certificate comes from: the TLS connection itself, or a
 * header set by a TLS-terminating load balancer (WSO2's `[apimgt.mutual_ssl]
 * client_certificate_header`). The header is believed only from configured proxy addresses:
 * from anyone else it is a client-chosen string and would let a TPP claim any certificate.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createPeerMatcher } from './trusted-peer.ts';

/** A request's client certificate. */
export interface ClientCertificate {
  readonly pem: string;
  readonly x509: X509Certificate;
  /** Chains to a trust store CA (checked by the TLS stack, or here for header certificates). */
  readonly authorized: boolean;
  readonly source: 'tls' | 'header';
}

/** Options of {@link createClientCertificateSource}, as in `[apimgt.mutual_ssl]`. */
export interface ClientCertificateSourceOptions {
  /** Header carrying the certificate; unset disables header certificates. */
  readonly header?: string | undefined;
  /** The header is URL-encoded PEM (nginx `$ssl_client_escaped_cert`); false: raw PEM or base64 DER. */
  readonly encoded: boolean;
  /** Addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`) allowed to send the header. */
  readonly trustedProxies: readonly string[];
  /** The trust store's current CA certificates. */
  readonly getCaPems: () => readonly string[];
  /** Clock for validity checks of header certificates; default now. */
  readonly now?: () => Date;
}

/** Reads the client certificate of a request. */
export interface ClientCertificateSource {
  /** The certificate, or undefined when there is none (or the header is malformed). */
  fromRequest(req: IncomingMessage): ClientCertificate | undefined;
}

// Longest chain walked through the trust store; real PKIs have two or three levels.
const MAX_CHAIN_DEPTH = 8;

/**
 * Creates the certificate source. Invalid `trustedProxies` entries throw here, at startup,
 * rather than silently trusting nobody (or everybody) later.
 */
export function createClientCertificateSource(opts: ClientCertificateSourceOptions): ClientCertificateSource {
  const header = opts.header?.toLowerCase();
  const isProxy = createPeerMatcher(opts.trustedProxies);
  const now = opts.now ?? (() => new Date());
  // Keep-alive connections carry many requests over one handshake: parse its certificate once.
  const tlsCache = new WeakMap<Socket, ClientCertificate | null>();
  const trustAnchors = createCaCache(opts.getCaPems);

  function fromTls(socket: TLSSocket): ClientCertificate | undefined {
    const cached = tlsCache.get(socket);
    if (cached !== undefined) return cached ?? undefined;
    const peer = socket.getPeerCertificate(true);
    let cert: ClientCertificate | null = null;
    if (peer?.raw?.length) {
      const x509 = new X509Certificate(peer.raw);
      cert = { pem: x509.toString(), x509, authorized: socket.authorized, source: 'tls' };
    }
    tlsCache.set(socket, cert);
    return cert ?? undefined;
  }

  function fromHeader(req: IncomingMessage): ClientCertificate | undefined {
    const value = req.headers[header!];
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    const x509 = parseHeaderCertificate(value, opts.encoded);
    if (!x509) return undefined;
    return { pem: x509.toString(), x509, authorized: chainsToTrustStore(x509, trustAnchors(), now()), source: 'header' };
  }

  return {
    fromRequest(req) {
      const socket = req.socket;
      // A trusted proxy speaks for the client; if it also presents a TLS certificate of its own
      // (re-encrypting load balancer), that certificate is the proxy's and must not be used.
      if (header && req.headers[header] !== undefined && isProxy(socket.remoteAddress)) return fromHeader(req);
      if ((socket as TLSSocket).encrypted) return fromTls(socket as TLSSocket);
      return undefined;
    },
  };
}

/** Parses the header value; undefined for anything that is not exactly one certificate. */
function parseHeaderCertificate(value: string, encoded: boolean): X509Certificate | undefined {
  let text = value;
  if (encoded) {
    try {
      text = decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  // Node joins a repeated header with ", ": two certificates mean no certificate.
  if (text.split('-----BEGIN CERTIFICATE-----').length > 2) return undefined;
  const pem = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  // Raw PEM cannot contain newlines in a header, so proxies replace them with spaces or tabs:
  // take the base64 body between the markers and drop all whitespace. Otherwise: base64 DER.
  const body = (pem ? pem[1]! : text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  try {
    return new X509Certificate(Buffer.from(body, 'base64'));
  } catch {
    return undefined;
  }
}

interface CaEntry {
  readonly cert: X509Certificate;
  readonly selfSigned: boolean;
}

// getCaPems returns the same array until the trust store changes, so parse once per array.
function createCaCache(getCaPems: () => readonly string[]): () => readonly CaEntry[] {
  let source: readonly string[] | undefined;
  let parsed: readonly CaEntry[] = [];
  return () => {
    const pems = getCaPems();
    if (pems === source) return parsed;
    source = pems;
    parsed = pems.flatMap((pem) => {
      try {
        const cert = new X509Certificate(pem);
        return cert.ca ? [{ cert, selfSigned: cert.checkIssued(cert) && cert.verify(cert.publicKey) }] : [];
      } catch {
        return [];
      }
    });
    return parsed;
  };
}

/**
 * True when `leaf` chains, through trust store certificates only, to a self-signed CA in the
 * trust store. This is what Node's TLS stack checks for the `ca` option (no partial chains), so
 * a certificate is authorized the same way whether it came over TLS or from a proxy header.
 * Revocation is not checked here, as it is not on the TLS path either.
 */
function chainsToTrustStore(leaf: X509Certificate, anchors: readonly CaEntry[], now: Date): boolean {
  const valid = (cert: X509Certificate) => cert.validFromDate <= now && now <= cert.validToDate;
  const walk = (cert: X509Certificate, depth: number, seen: Set<string>): boolean => {
    if (depth > MAX_CHAIN_DEPTH || !valid(cert)) return false;
    return anchors.some((ca) => {
      if (seen.has(ca.cert.fingerprint256) || !valid(ca.cert)) return false;
      // checkIssued compares names, key identifiers and the issuer's keyCertSign usage.
      if (!cert.checkIssued(ca.cert) || !cert.verify(ca.cert.publicKey)) return false;
      return ca.selfSigned || walk(ca.cert, depth + 1, new Set(seen).add(ca.cert.fingerprint256));
    });
  };
  return walk(leaf, 0, new Set([leaf.fingerprint256]));
}
