import type { DcrVersionProfile } from './types.ts';

/** OB DCR v3.2: scope becomes a string, tls_client_auth_subject_dn (RFC 8705 name), client_secret_jwt added. */
export const v32: DcrVersionProfile = {
  id: 'v3.2',
  subjectDnClaims: ['tls_client_auth_subject_dn'],
  // Being lenient costs nothing: some v3.2 clients still send the v3.1 array.
  scopeMayBeArray: true,
  authMethods: ['private_key_jwt', 'tls_client_auth', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt'],
  applicationTypes: ['web', 'mobile'],
  grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
};
