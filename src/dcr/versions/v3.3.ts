import type { DcrVersionProfile } from './types.ts';

/** OB DCR v3.3: as v3.2 plus the CIBA grant and backchannel_* claims. */
export const v33: DcrVersionProfile = {
  id: 'v3.3',
  subjectDnClaims: ['tls_client_auth_subject_dn'],
  scopeMayBeArray: true,
  authMethods: ['private_key_jwt', 'tls_client_auth', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt'],
  applicationTypes: ['web', 'mobile'],
  grantTypes: ['client_credentials', 'authorization_code', 'refresh_token', 'urn:openid:params:grant-type:ciba'],
};
