/**
 * The built-in DCR API (backend `internal:dcr`), once routed: it keeps RFC 7591, so the DCR
 * service checks the certificate, the software statement and the registration token itself, with
 * its own errors; the gateway adds only the API plan's throttling, per transport certificate, and
 * hands the request to the in-process DCR routes under the path it was published at.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientCertificate } from '../../http/client-cert.ts';
import { x5tS256 } from '../../crypto/thumbprint.ts';
import type { Routed } from './call.ts';
import { checkLimits, limitsFor, type ThrottleDeps } from './throttle.ts';

export interface InternalDcrDeps extends ThrottleDeps {
  readonly clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
}

/** Throttles the call on the API's default plan, then passes it to `next` (the DCR routes). */
export async function internalDcr(deps: InternalDcrDeps, call: Routed, next: (req: IncomingMessage, res: ServerResponse) => void): Promise<void> {
  const { req, match } = call;
  const presented = deps.clientCert(req);
  const plan = call.snapshot.plans.get(match.api.plans[0]!);
  await checkLimits(deps, limitsFor(match, plan, `${match.api.id}:${presented ? x5tS256(presented.x509) : 'no-certificate'}`));
  req.url = `${match.api.context}${match.rest}${call.query}`;
  next(req, call.res);
}
