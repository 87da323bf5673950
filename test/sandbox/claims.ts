/** Every claim of an OB Directory SSA (OB DCR v3.3 digest §3.2), as the sandbox mints them. */
export const SSA_CLAIMS = [
  'iss', 'iat', 'jti',
  'software_environment', 'software_mode', 'software_id', 'software_client_id', 'software_client_name',
  'software_client_description', 'software_version', 'software_client_uri', 'software_redirect_uris',
  'software_roles', 'organisation_competent_authority_claims', 'software_logo_uri',
  'org_status', 'org_id', 'org_name', 'org_contacts', 'org_jwks_endpoint', 'org_jwks_revoked_endpoint',
  'software_jwks_endpoint', 'software_jwks_revoked_endpoint', 'software_policy_uri', 'software_tos_uri',
  'software_on_behalf_of_org',
] as const;
