/**
 * The certificate step: the transport (mutual TLS) certificate, from the connection or a trusted
 * proxy's header, chained to the trust store and within its validity; 401 otherwise, saying which
 * (missing or untrusted, expired, not yet valid). Every API but the built-in DCR one, whose
 * service checks the certificate itself.
 */
import type { IncomingMessage } from 'node:http';
import { type ClientCertificate, clientCertificateError } from '../../http/client-cert.ts';
import type { Certified, Routed } from './call.ts';

export interface CertificateDeps {
  /** The request's certificate (src/http/client-cert.ts), if it has one. */
  readonly clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
}

/** Adds the caller's trusted certificate (`cert`). */
export function certificate(deps: CertificateDeps, call: Routed): Certified {
  const cert = deps.clientCert(call.req);
  const refused = clientCertificateError(cert);
  if (refused) throw refused;
  call.cert = cert;
  return call as Certified;
}
