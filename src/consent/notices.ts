/**
 * The event notices a TPP is sent (OB Event Notification API, docs/events.md): what a revoked
 * consent's security event token says. The consent service stores one with the revocation;
 * ./events.ts delivers them.
 */
import type { ConsentRecord, EventNotice } from '../storage/consent-records.ts';
import { kindDef } from './kinds.ts';

export const CONSENT_REVOKED_EVENT = 'urn:uk:org:openbanking:events:consent-authorization-revoked';

const GROUP = { accounts: 'aisp', payments: 'pisp', fundsconfirmations: 'cbpii' } as const;

/** The consent's resource URL: under the API it was created through (the standard OB path for consents stored before that was kept). */
export function consentLink(c: ConsentRecord, baseUrl: string): string {
  const def = kindDef(c.kind);
  const context = c.apiContext ?? `/open-banking/${c.apiVersion}/${GROUP[def.scope]}`;
  return `${baseUrl}${context}${def.resource}/${encodeURIComponent(c.id)}`;
}

/**
 * The notice of `c`'s revocation for its TPP: a consent-authorization-revoked event whose subject
 * is the consent resource (OBEventSubject1), `txn` the change's interaction or the notice's id.
 */
export function revocationNotice(c: ConsentRecord, opts: { issuer: string; baseUrl: string; at: number; jti: string; txn?: string }): EventNotice {
  const link = consentLink(c, opts.baseUrl);
  const toe = Math.floor(opts.at / 1000);
  return {
    jti: opts.jti,
    keyManager: c.keyManager,
    clientId: c.clientId,
    type: CONSENT_REVOKED_EVENT,
    consentId: c.id,
    at: opts.at,
    claims: {
      iss: opts.issuer,
      jti: opts.jti,
      aud: c.clientId,
      sub: link,
      txn: opts.txn ?? opts.jti,
      toe,
      events: {
        [CONSENT_REVOKED_EVENT]: {
          subject: {
            subject_type: 'http://openbanking.org.uk/rid_http://openbanking.org.uk/rty',
            'http://openbanking.org.uk/rid': c.id,
            'http://openbanking.org.uk/rty': kindDef(c.kind).resource.slice(1),
            'http://openbanking.org.uk/rlk': [{ version: c.apiVersion, link }],
          },
        },
      },
    },
  };
}
