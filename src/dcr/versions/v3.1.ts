import type { DcrVersionProfile } from './types.ts';

/** OB DCR v3.1: scope as an array, tls_client_auth_dn, no client_secret_jwt. */
export const v31: DcrVersionProfile = {
  id: 'v3.1',
  subjectDnClaims: ['tls_client_auth_dn', 'tls_client_auth_subject_dn'],
  scopeMayBeArray: true,
  authMethods: ['private_key_jwt', 'tls_client_auth', 'client_secret_basic', 'client_secret_post'],
  applicationTypes: ['web', 'mobile'],
  grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
};
