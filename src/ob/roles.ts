/**
 * Open Banking's TPP roles (PSD2: account information, payment initiation, card-based payment
 * instrument issuer; the bank itself is ASPSP) and the OB scope each role may hold, as the OB
 * Read/Write definitions pair them. Every part of the server reads them from here.
 */

export type TppRole = 'AISP' | 'PISP' | 'CBPII' | 'ASPSP';
export const TPP_ROLES: readonly TppRole[] = ['AISP', 'PISP', 'CBPII', 'ASPSP'];

/** The roles a third party (not the bank) holds: what a software statement or sandbox TPP names. */
export type ThirdPartyRole = Exclude<TppRole, 'ASPSP'>;
export const THIRD_PARTY_ROLES: readonly ThirdPartyRole[] = ['AISP', 'PISP', 'CBPII'];

/** OB scope → the role that may hold it; `openid` needs none. */
export const SCOPE_ROLES: Readonly<Record<string, ThirdPartyRole>> = {
  accounts: 'AISP',
  payments: 'PISP',
  fundsconfirmations: 'CBPII',
};

/** Role → its OB scope (SCOPE_ROLES read the other way round). */
export const ROLE_SCOPES: Readonly<Record<ThirdPartyRole, string>> = { AISP: 'accounts', PISP: 'payments', CBPII: 'fundsconfirmations' };
