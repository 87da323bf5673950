/** What differs between OB DCR versions (docs/dcr.md#versions). One file per version sets these. */
export interface DcrVersionProfile {
  readonly id: 'v3.1' | 'v3.2' | 'v3.3';
  /** Claim names carrying the tls_client_auth subject DN, preferred first. */
  readonly subjectDnClaims: readonly string[];
  /** v3.1 sent scope as an array of strings; later versions a space-separated string. */
  readonly scopeMayBeArray: boolean;
  /** token_endpoint_auth_method values the version defines. */
  readonly authMethods: readonly string[];
  /** application_type values the version defines. */
  readonly applicationTypes: readonly string[];
  /** Grant types the version defines (CIBA arrived in v3.3; this server does not offer it). */
  readonly grantTypes: readonly string[];
}
