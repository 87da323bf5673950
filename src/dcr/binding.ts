/**
 * Does the transport certificate belong to the software in the SSA? The OB Directory asks the
 * ASPSP to check that the TPP that opened the TLS session is the one the SSA names.
 * Either it is published as a `use: tls` key in the software JWKS (exact certificate match), or
 * its subject names the organisation and software: legacy OB certificates carry OU = org_id and
 * CN = software_id; OBWAC / eIDAS certificates carry the org in organizationIdentifier or CN.
 */
import type { X509Certificate } from 'node:crypto';
import { x5tS256 } from '../crypto/thumbprint.ts';
import type { Config } from '../config/schema.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { certificateSubjectRdns } from '../crypto/dn.ts';
import { fail } from '../errors/app-error.ts';
import { describeVerifyFailure } from './key-errors.ts';

const OU = '2.5.4.11';
const CN = '2.5.4.3';
const ORG_IDENTIFIER = '2.5.4.97';

/** The software a certificate must belong to: the SSA's claims, or a registered client's metadata. */
export interface SoftwareIdentity {
  readonly org_id: string;
  readonly software_id: string;
  readonly software_jwks_endpoint: string;
}

/** Listed in the software JWKS as a use:tls key (x5c[0] DER equality or x5t#S256). */
async function listedInSoftwareJwks(cert: X509Certificate, software: SoftwareIdentity, keySets: JwksCache): Promise<boolean> {
  const url = software.software_jwks_endpoint;
  let jwks;
  try {
    jwks = await keySets.fetchKeys(url);
  } catch (err) {
    const f = describeVerifyFailure(err, url, 'the transport certificate check');
    throw fail(`TRANSPORT_CERT_${f.kind}`, f.description, { cause: err });
  }
  const der = cert.raw;
  const thumbprint = x5tS256(cert);
  return jwks.keys.some((k) => {
    if (k.use !== 'tls') return false;
    const x5c = (k as { x5c?: unknown }).x5c;
    if (Array.isArray(x5c) && typeof x5c[0] === 'string' && Buffer.from(x5c[0], 'base64').equals(der)) return true;
    return (k as Record<string, unknown>)['x5t#S256'] === thumbprint;
  });
}

/** Subject names the org and software (legacy OB: OU/CN; OBWAC/eIDAS: organizationIdentifier/CN). */
function subjectNamesSoftware(cert: X509Certificate, software: SoftwareIdentity): boolean {
  const attrs = certificateSubjectRdns(cert).flat();
  const values = (oid: string) => attrs.filter((a) => a.type === oid).map((a) => a.value);
  const { org_id: orgId, software_id: softwareId } = software;
  const legacy = values(OU).includes(orgId) && values(CN).includes(softwareId);
  const obwac = values(CN).includes(orgId) || values(ORG_IDENTIFIER).some((v) => v.endsWith(orgId));
  return legacy || obwac;
}

/** Throws invalid_client_metadata unless the certificate belongs to the software, per config. */
export async function checkTransportBinding(cert: X509Certificate, software: SoftwareIdentity, deps: { config: Config; keySets: JwksCache }): Promise<void> {
  const mode = deps.config.open_banking.dcr.transport_certificate_binding;
  if (mode === 'none') return;
  const subjectOk = mode !== 'jwks' && subjectNamesSoftware(cert, software);
  if (mode === 'subject') {
    if (!subjectOk)
      throw fail(
        'TRANSPORT_CERT_NOT_BOUND',
        `the transport certificate subject does not name organisation ${software.org_id} and software ${software.software_id}`,
      );
    return;
  }
  if (subjectOk && mode === 'jwks_or_subject') return;
  if (await listedInSoftwareJwks(cert, software, deps.keySets)) return;
  throw fail(
    'TRANSPORT_CERT_NOT_BOUND',
    mode === 'jwks'
      ? 'the transport certificate is not listed as a use:tls key in the software JWKS'
      : `the transport certificate belongs to neither the software JWKS (use:tls) nor organisation ${software.org_id} / software ${software.software_id}`,
  );
}
