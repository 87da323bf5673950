/**
 * PSD2 roles in a certificate (ETSI TS 119 495, used by eIDAS QWACs and the OB's OBWAC/OBSeal):
 * the qcStatements extension (RFC 3739, 1.3.6.1.5.5.7.1.3) holding the PSD2 statement
 * (0.4.0.19495.2) with the roles the national authority granted (PSP_AS, PSP_PI, PSP_AI, PSP_IC).
 * Parsed with asn1js; each certificate object once (a keep-alive connection presents the same one).
 */
import type { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs it loaded first
import * as x509 from '@peculiar/x509';
import type { TppRole } from '../ob/roles.ts';

export const QC_STATEMENTS_OID = '1.3.6.1.5.5.7.1.3';
export const PSD2_STATEMENT_OID = '0.4.0.19495.2';

/** ETSI TS 119 495 §5.1 role OIDs and the OB role names they mean. */
export const PSD2_ROLE_OIDS: Readonly<Record<string, { name: string; role: TppRole }>> = {
  '0.4.0.19495.1.1': { name: 'PSP_AS', role: 'ASPSP' },
  '0.4.0.19495.1.2': { name: 'PSP_PI', role: 'PISP' },
  '0.4.0.19495.1.3': { name: 'PSP_AI', role: 'AISP' },
  '0.4.0.19495.1.4': { name: 'PSP_IC', role: 'CBPII' },
};

const parsed = new WeakMap<X509Certificate, readonly TppRole[] | null>();

/** The PSD2 roles the certificate grants, sorted; undefined when it carries no PSD2 statement (or an unreadable one). */
export function psd2Roles(cert: X509Certificate): readonly TppRole[] | undefined {
  let roles = parsed.get(cert);
  if (roles === undefined) {
    roles = readRoles(cert) ?? null;
    parsed.set(cert, roles);
  }
  return roles ?? undefined;
}

function readRoles(cert: X509Certificate): TppRole[] | undefined {
  let ext: x509.Extension | null;
  try {
    ext = new x509.X509Certificate(cert.raw).getExtension(QC_STATEMENTS_OID);
  } catch {
    return undefined;
  }
  if (!ext) return undefined;
  const statements = asn1js.fromBER(ext.value).result;
  if (!(statements instanceof asn1js.Sequence)) return undefined;
  for (const statement of statements.valueBlock.value) {
    if (!(statement instanceof asn1js.Sequence)) continue;
    const [id, info] = statement.valueBlock.value;
    if (!(id instanceof asn1js.ObjectIdentifier) || id.valueBlock.toString() !== PSD2_STATEMENT_OID) continue;
    // PSD2QcType ::= SEQUENCE { rolesOfPSP RolesOfPSP, nCAName UTF8String, nCAId UTF8String }
    const rolesOfPsp = info instanceof asn1js.Sequence ? info.valueBlock.value[0] : undefined;
    if (!(rolesOfPsp instanceof asn1js.Sequence)) return undefined;
    const roles = new Set<TppRole>();
    for (const role of rolesOfPsp.valueBlock.value) {
      // RoleOfPSP ::= SEQUENCE { roleOfPspOid OBJECT IDENTIFIER, roleOfPspName UTF8String }
      const oid = role instanceof asn1js.Sequence ? role.valueBlock.value[0] : undefined;
      const known = oid instanceof asn1js.ObjectIdentifier ? PSD2_ROLE_OIDS[oid.valueBlock.toString()] : undefined;
      if (known) roles.add(known.role);
    }
    return [...roles].sort();
  }
  return undefined;
}

/** The qcStatements extension with a PSD2 statement granting `roles` (sandbox certificates, tests). */
export function psd2Extension(roles: readonly TppRole[], nca = { name: 'Sandbox National Competent Authority', id: 'GB-SNCA' }): x509.Extension {
  const byRole = Object.entries(PSD2_ROLE_OIDS);
  const value = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: PSD2_STATEMENT_OID }),
          new asn1js.Sequence({
            value: [
              new asn1js.Sequence({
                value: roles.map((r) => {
                  const [oid, spec] = byRole.find(([, s]) => s.role === r)!;
                  return new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Utf8String({ value: spec.name })] });
                }),
              }),
              new asn1js.Utf8String({ value: nca.name }),
              new asn1js.Utf8String({ value: nca.id }),
            ],
          }),
        ],
      }),
    ],
  });
  return new x509.Extension(QC_STATEMENTS_OID, false, value.toBER());
}
