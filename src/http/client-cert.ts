/**
 * Where a request's client (transport) certificate comes from: the TLS connection itself, or a
 * header set by a TLS-terminating load balancer (WSO2's `[apimgt.mutual_ssl]
 * client_certificate_header`). The header is believed only from configured proxy addresses:
 * from anyone else it is a client-chosen string and would let a TPP claim any certificate.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { createPeerMatcher } from './trusted-peer.ts';
import { type AppError, clientCertificateRequired, fail } from '../errors/app-error.ts';

/** A request's client certificate. */
export interface ClientCertificate {
  readonly pem: string;
  readonly x509: X509Certificate;
  /** Chains to a trust store CA (checked by the TLS stack, or here for header certificates). */
  readonly authorized: boolean;
  /**
   * Not authorized only because it, or a CA certificate of its chain, is outside its validity
   * period: it chains to the trust store otherwise. The caller is then told that, not that its CA
   * is untrusted.
   */
  readonly outsideValidity?: boolean;
  readonly source: 'tls' | 'header';
}

/**
 * What OpenSSL reports when a chain is outside its validity. Node lets the handshake go on past
 * every error and reports the last one, and times are checked last: an untrusted chain that is also
 * expired reports CERT_HAS_EXPIRED too, so the chain is then walked here, times set aside.
 */
const TIME_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

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
      const outsideValidity =
        !socket.authorized &&
        TIME_ERRORS.has(String(socket.authorizationError ?? '')) &&
        chainsToTrustStore(x509, trustAnchors(), undefined, presentedIssuers(peer));
      cert = { pem: x509.toString(), x509, authorized: socket.authorized, ...(outsideValidity ? { outsideValidity } : {}), source: 'tls' };
    }
    tlsCache.set(socket, cert);
    return cert ?? undefined;
  }

  function fromHeader(req: IncomingMessage): ClientCertificate | undefined {
    const value = req.headers[header!];
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    const x509 = parseHeaderCertificate(value, opts.encoded);
    if (!x509) return undefined;
    const anchors = trustAnchors();
    const authorized = chainsToTrustStore(x509, anchors, now());
    const outsideValidity = !authorized && chainsToTrustStore(x509, anchors, undefined);
    return { pem: x509.toString(), x509, authorized, ...(outsideValidity ? { outsideValidity } : {}), source: 'header' };
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

/** The CA certificates a TLS client sent after its own (intermediates, perhaps a root), parsed. */
function presentedIssuers(peer: DetailedPeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<DetailedPeerCertificate>([peer]);
  for (let c = peer.issuerCertificate; c && !seen.has(c) && out.length < MAX_CHAIN_DEPTH; c = c.issuerCertificate) {
    seen.add(c);
    try {
      out.push(new X509Certificate(c.raw));
    } catch {
      // not a certificate: not a link of any chain
    }
  }
  return out;
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
  /** A self-signed trust store CA: where a chain ends. */
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
 * Revocation is not checked here, as it is not on the TLS path either. Without `now`, validity
 * periods are set aside (to tell an expired certificate from an untrusted one). `presented` are CA
 * certificates the client sent over TLS: links of the chain, never its anchor.
 */
function chainsToTrustStore(leaf: X509Certificate, anchors: readonly CaEntry[], now: Date | undefined, presented: readonly X509Certificate[] = []): boolean {
  const valid = (cert: X509Certificate) => now === undefined || (cert.validFromDate <= now && now <= cert.validToDate);
  const links: readonly CaEntry[] = [...anchors, ...presented.filter((c) => c.ca).map((cert) => ({ cert, selfSigned: false }))];
  const walk = (cert: X509Certificate, depth: number, seen: Set<string>): boolean => {
    if (depth > MAX_CHAIN_DEPTH || !valid(cert)) return false;
    return links.some((ca) => {
      if (seen.has(ca.cert.fingerprint256) || !valid(ca.cert)) return false;
      // checkIssued compares names, key identifiers and the issuer's keyCertSign usage.
      if (!cert.checkIssued(ca.cert) || !cert.verify(ca.cert.publicKey)) return false;
      return ca.selfSigned || walk(ca.cert, depth + 1, new Set(seen).add(ca.cert.fingerprint256));
    });
  };
  return walk(leaf, 0, new Set([leaf.fingerprint256]));
}

/** A certificate date as the error descriptions give it (RFC 3339, whole seconds). */
const dateOf = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Why `cert` may not authenticate a client over mutual TLS, as the 401 invalid_client to answer
 * with, or undefined when it may: none, or not chaining to the trust store (CLIENT_CERT_REQUIRED);
 * expired, not valid yet, or a CA of its chain outside its validity period (CLIENT_CERT_EXPIRED,
 * saying which). Validity is checked here too for an authorized certificate: a keep-alive
 * connection can outlive the certificate its handshake checked.
 */
export function clientCertificateError(cert: ClientCertificate | undefined, now: number = Date.now()): AppError | undefined {
  if (!cert || !(cert.authorized || cert.outsideValidity === true)) return clientCertificateRequired();
  const { validFromDate, validToDate } = cert.x509;
  if (validToDate.getTime() < now)
    return fail('CLIENT_CERT_EXPIRED', `the client (transport) certificate expired on ${dateOf(validToDate)}; present a current one`);
  if (validFromDate.getTime() > now) return fail('CLIENT_CERT_EXPIRED', `the client (transport) certificate is not valid until ${dateOf(validFromDate)}`);
  if (!cert.authorized) return fail('CLIENT_CERT_EXPIRED', "a CA certificate in the client (transport) certificate's chain is outside its validity period");
  return undefined;
}
