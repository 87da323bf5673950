/**
 * The consent (intent) resources OpenDCR serves, as data: for each OB resource its kind, the scope
 * its tokens carry, whether the request has a Risk block, whether the TPP may delete it, and where
 * its expiry is. The gateway finds a consent operation by its path template (docs/consents.md).
 */
import type { ConsentKind } from '../storage/consent-records.ts';

export interface ConsentKindDef {
  readonly kind: ConsentKind;
  /** The resource's path below the API's context: `/account-access-consents`. */
  readonly resource: string;
  /** The scope of the tokens that create it and act on it. */
  readonly scope: 'accounts' | 'payments' | 'fundsconfirmations';
  /** The request and the response carry `Risk`. */
  readonly risk: boolean;
  /** `DELETE /{resource}/{ConsentId}` exists (AIS, CoF, VRP; payment consents cannot be revoked by the TPP). */
  readonly deletable: boolean;
  /** Where in `Data` the consent's end is, when it has one. */
  readonly expiry: readonly string[] | undefined;
  /** How long a consent may wait for the PSU before it is rejected (seconds). */
  readonly awaitingLifetime: number;
}

const HOUR = 3600;
const payment = (kind: ConsentKind, resource: string): ConsentKindDef => ({
  kind,
  resource,
  scope: 'payments',
  risk: true,
  deletable: false,
  expiry: undefined,
  // A payment is authorised while the PSU is at the TPP: minutes, not days.
  awaitingLifetime: HOUR,
});

export const CONSENT_KIND_DEFS: readonly ConsentKindDef[] = [
  {
    kind: 'account-access',
    resource: '/account-access-consents',
    scope: 'accounts',
    risk: true,
    deletable: true,
    expiry: ['ExpirationDateTime'],
    awaitingLifetime: 24 * HOUR,
  },
  payment('domestic-payment', '/domestic-payment-consents'),
  payment('domestic-scheduled-payment', '/domestic-scheduled-payment-consents'),
  payment('domestic-standing-order', '/domestic-standing-order-consents'),
  payment('international-payment', '/international-payment-consents'),
  payment('international-scheduled-payment', '/international-scheduled-payment-consents'),
  payment('international-standing-order', '/international-standing-order-consents'),
  {
    kind: 'funds-confirmation',
    resource: '/funds-confirmation-consents',
    scope: 'fundsconfirmations',
    risk: false,
    deletable: true,
    expiry: ['ExpirationDateTime'],
    awaitingLifetime: 24 * HOUR,
  },
  {
    kind: 'domestic-vrp',
    resource: '/domestic-vrp-consents',
    scope: 'payments',
    risk: true,
    deletable: true,
    expiry: ['ControlParameters', 'ValidToDateTime'],
    awaitingLifetime: 24 * HOUR,
  },
];

const BY_RESOURCE = new Map(CONSENT_KIND_DEFS.map((d) => [d.resource, d]));
const BY_KIND = new Map(CONSENT_KIND_DEFS.map((d) => [d.kind, d]));

export const kindDef = (kind: ConsentKind): ConsentKindDef => BY_KIND.get(kind)!;

/** What a consent operation does, found from its method and path template. */
export type ConsentOperation =
  | { readonly action: 'create'; readonly def: ConsentKindDef }
  | { readonly action: 'get' | 'delete'; readonly def: ConsentKindDef };

/**
 * The consent operation an API operation is (`POST /account-access-consents`, `GET` or `DELETE
 * /account-access-consents/{ConsentId}`), or undefined: every other operation, the
 * funds-confirmation and file sub-resources included, goes to the API's backend.
 */
export function consentOperation(method: string, template: string): ConsentOperation | undefined {
  const direct = BY_RESOURCE.get(template);
  if (direct) return method === 'POST' ? { action: 'create', def: direct } : undefined;
  const m = /^(\/[a-z-]+-consents)\/\{ConsentId\}$/.exec(template);
  const def = m ? BY_RESOURCE.get(m[1]!) : undefined;
  if (!def) return undefined;
  if (method === 'GET') return { action: 'get', def };
  if (method === 'DELETE' && def.deletable) return { action: 'delete', def };
  return undefined;
}
