/**
 * Which directories this server trusts for software statements: the configured regulatory
 * issuers and directory key sets, plus — in sandbox mode, once `opendcr sandbox init` has run and
 * no sandbox key set is configured explicitly — this server's own sandbox directory.
 */
import type { Config } from '../config/schema.ts';
import { OB_SANDBOX_JWKS } from '../config/schema.ts';
import type { SandboxStore } from '../sandbox/store.ts';
import { SANDBOX_PREFIX } from '../sandbox/routes.ts';

export interface DirectoryTrust {
  /** The directory JWKS for an SSA software_environment. */
  jwksUrl(environment: 'sandbox' | 'production'): string;
  /** Accepted SSA iss values. */
  issuers(): readonly string[];
}

export function createDirectoryTrust(config: Config, sandbox?: SandboxStore): DirectoryTrust {
  const dcr = config.open_banking.dcr;
  const useSandbox = () => (config.server.mode === 'sandbox' && dcr.jwks_url_sandbox === undefined && sandbox ? sandbox.directory() : undefined);
  return {
    jwksUrl(environment) {
      if (environment === 'production') return dcr.jwks_url_production;
      if (dcr.jwks_url_sandbox) return dcr.jwks_url_sandbox;
      return useSandbox() ? `${config.derived.baseUrl}${SANDBOX_PREFIX}/directory/jwks` : OB_SANDBOX_JWKS;
    },
    issuers() {
      const own = useSandbox();
      return own ? [...dcr.regulatory_issuers, own.issuer] : dcr.regulatory_issuers;
    },
  };
}
